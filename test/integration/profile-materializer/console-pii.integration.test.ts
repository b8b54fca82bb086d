import type {
  Profile360,
  ProfileHit,
  TimelineEvent,
} from '../../../services/profile-materializer/console/profile-360.repository';
import type { SegmentMember } from '../../../services/profile-materializer/console/segment-views.repository';
import type { IdentityChange, StitchedEvent } from '../../../schemas';
import { piiKeyOf } from '../../../services/common/access/access-config';
import { profileIdHash } from '../../../services/common/audit/keyed-hash';
import { testKafka } from '../../support/kafka';
import { withServiceLogsOnFailure, type ServiceProcess } from '../../support/service-process';
import { uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';
import { startAccessService } from '../common/access/access-test-env';
import { embeddedHome } from './materializer-test-env';

/**
 * The console's reads follow the key's role: the profile-materializer as `kumiki up` runs it, fed
 * a person through its input topics. An analyst (no pii:read) gets what ClickHouse's masked views
 * give, a privacy officer or the admin the raw values, and every read names the profile in the
 * audit trail. What counts as raw is read from ClickHouse, not assumed.
 */
jest.setTimeout(240_000);
const adminToken = 'adm_console_pii_token_0123456789';

const email = 'Ann.Console@Example.com';
const at = Date.now() - 86_400_000;

function event(messageId: string, offset: number, traits: object, properties: object): StitchedEvent['event'] {
  return {
    messageId,
    type: 'track',
    event: 'Viewed',
    name: null,
    userId: 'u-ann-7731',
    anonymousId: 'anon-ann-4410',
    previousId: null,
    groupId: null,
    timestamp: at + offset,
    sentAt: null,
    receivedAt: at + offset,
    channel: 'web',
    source: 'test',
    context: JSON.stringify({ ip: '198.51.100.23' }),
    traits: JSON.stringify(traits),
    consent: {},
    properties: JSON.stringify(properties),
  };
}

const identifiers = [
  { type: 'email', value: email.toLowerCase() },
  { type: 'phone', value: '+819012345678' },
  { type: 'user_id', value: 'u-ann-7731' },
  { type: 'anonymous_id', value: 'anon-ann-4410' },
];

const stitched: StitchedEvent[] = [
  {
    profileId: 'p-ann',
    identifiers,
    stitchedAt: at,
    event: event(
      'cpii-1',
      0,
      {
        email: email.toLowerCase(),
        phone: '+819012345678',
        name: 'Ann Consolewood',
        address: '1-2-3 Shibuya',
        plan: 'gold',
      },
      { contact: email.toLowerCase(), sku: 'A1' },
    ),
  },
  {
    profileId: 'p-ann',
    identifiers,
    stitchedAt: at + 1000,
    event: event('cpii-2', 1000, {}, { buyer: { email: 'ann.second@example.org' }, total: 12 }),
  },
];

const change = (
  kind: IdentityChange['kind'],
  ids: { type: string; value: string }[],
  messageId: string,
): IdentityChange => ({
  changeId: `${kind}-${messageId}`,
  kind,
  profileId: 'p-ann',
  absorbedProfileIds: [],
  identifiers: ids,
  rule: 'email',
  reason: kind === 'refused' ? 'email limit 1 exceeded: linking it would give the profile 2 email identifiers' : null,
  messageId,
  eventTime: at,
  changedAt: at,
});

const changes: IdentityChange[] = [
  change('link', identifiers, 'cpii-1'),
  change('refused', [{ type: 'email', value: 'ann.refused@example.net' }], 'cpii-2'),
];

describe('console reads and personal data', () => {
  const kafka = testKafka();
  const home = embeddedHome('console-pii');
  const database = uniqueName('t').replace(/-/g, '_');
  let service: ServiceProcess;
  let url: string;

  const call = async <T = Record<string, unknown>>(
    pathname: string,
    token: string,
    init: { method?: string; body?: unknown } = {},
  ): Promise<{ status: number; text: string; body: T }> => {
    const response = await fetch(`${url}${pathname}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, text, body: (text.startsWith('{') ? JSON.parse(text) : {}) as T };
  };
  const sql = async <T>(token: string, query: string): Promise<T[]> => {
    const answer = await call<{ rows: T[] }>('/v1/sql', token, { method: 'POST', body: { query } });
    if (answer.status !== 200) throw new Error(`SQL ${query} → ${answer.status} ${answer.text}`);
    return answer.body.rows;
  };

  beforeAll(async () => {
    const stack = await startAccessService({ kafka, prefix: 'cpii', home, database, adminToken });
    ({ url } = stack);
    const { codec } = stack;
    const stitchedTopic = stack.env.MATERIALIZER_STITCHED_TOPIC!;
    const changesTopic = stack.env.MATERIALIZER_CHANGES_TOPIC!;
    const producer = kafka.producer();
    await producer.connect();
    await producer.send(
      changesTopic!,
      changes.map((c) => ({ key: c.profileId, value: codec.encode(changesTopic!, c) })),
    );
    await producer.send(
      stitchedTopic!,
      stitched.map((r) => ({ key: r.profileId, value: codec.encode(stitchedTopic!, r) })),
    );
    await producer.disconnect();
    await stack.start();
    service = stack.service();
    await waitFor(
      async () => {
        // Events, links and the profile are written by different steps: wait for all three.
        const [counts] = await sql<{ events: string; links: string; profiles: string }>(
          adminToken,
          `SELECT (SELECT count() FROM events WHERE profile_id = 'p-ann') AS events,
                  (SELECT count() FROM identity_links WHERE profile_id = 'p-ann') AS links,
                  (SELECT count() FROM profiles WHERE profile_id = 'p-ann' AND JSONExtractString(traits, 'plan') = 'gold') AS profiles`,
        );
        expect(counts).toEqual({ events: '2', links: '5', profiles: '1' });
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('gives an analyst pseudonyms where ClickHouse has personal data, and pii:read keys the raw values', () =>
    withServiceLogsOnFailure(async () => {
      const key = async (role: string) =>
        (
          await call<{ id: string; secret: string }>('/v1/keys', adminToken, {
            method: 'POST',
            body: { name: `${role} key`, role },
          })
        ).body;
      const analyst = await key('analyst');
      const officer = await key('privacy-officer');

      // The raw personal values ClickHouse holds for this person: every identifier ever linked or
      // refused, and the values of personal traits and payload keys.
      const rawIdentifiers = await sql<{ identifier_value: string }>(
        adminToken,
        "SELECT DISTINCT identifier_value FROM identity_links WHERE linked_profile_id = 'p-ann'",
      );
      const [rawProfile] = await sql<{ traits: string }>(
        adminToken,
        "SELECT traits FROM profiles WHERE profile_id = 'p-ann'",
      );
      const rawTraits = JSON.parse(rawProfile!.traits) as Record<string, string>;
      const raw = [
        ...new Set([
          ...rawIdentifiers.map((r) => r.identifier_value),
          rawTraits.email!,
          rawTraits.phone!,
          rawTraits.name!,
          rawTraits.address!,
          'ann.second@example.org',
        ]),
      ];
      expect(raw).toEqual(expect.arrayContaining([email.toLowerCase(), 'ann.refused@example.net', 'Ann Consolewood']));
      const leaked = (text: string) => raw.filter((value) => text.includes(value));

      // What the masked views give the analyst for the same rows.
      const maskedIdentities = await sql<{ identifier_type: string; identifier_value: string }>(
        analyst.secret,
        "SELECT identifier_type, identifier_value FROM identities WHERE profile_id = 'p-ann' ORDER BY identifier_type, identifier_value",
      );
      const maskedLinks = await sql<{ identifier_value: string }>(
        analyst.secret,
        "SELECT DISTINCT identifier_value FROM identity_links WHERE linked_profile_id = 'p-ann' ORDER BY identifier_value",
      );
      const [maskedProfile] = await sql<{ traits: string }>(
        analyst.secret,
        "SELECT traits FROM profiles WHERE profile_id = 'p-ann'",
      );
      const maskedEvents = await sql<{ message_id: string; properties: string }>(
        analyst.secret,
        "SELECT message_id, properties FROM events WHERE profile_id = 'p-ann' ORDER BY message_id",
      );
      for (const row of maskedIdentities) expect(row.identifier_value).toMatch(/^pii_[0-9a-f]{24}$/);
      const emailPseudonym = maskedIdentities.find((i) => i.identifier_type === 'email')!.identifier_value;

      // Profile 360: identifiers, graph, traits.
      const profile = await call<Profile360>('/v1/console/profiles/p-ann', analyst.secret);
      expect(profile.status).toBe(200);
      expect(leaked(profile.text)).toEqual([]);
      const byTypeValue = (a: { type: string; value: string }, b: { type: string; value: string }) =>
        `${a.type}:${a.value}`.localeCompare(`${b.type}:${b.value}`);
      expect([...profile.body.identifiers].sort(byTypeValue)).toEqual(
        maskedIdentities.map((i) => ({ type: i.identifier_type, value: i.identifier_value })).sort(byTypeValue),
      );
      expect(profile.body.traits).toEqual(JSON.parse(maskedProfile!.traits));
      expect(profile.body.traits.plan).toBe('gold');
      const graphValues = profile.body.graph.nodes.flatMap((n) => (n.kind === 'identifier' ? [n.value] : [])).sort();
      expect(graphValues).toEqual(maskedLinks.map((l) => l.identifier_value));
      const refused = profile.body.graph.nodes.filter((n) => n.kind === 'identifier' && n.state === 'refused');
      expect(refused).toHaveLength(1);

      const forOfficer = await call<Profile360>('/v1/console/profiles/p-ann', officer.secret);
      expect(forOfficer.status).toBe(200);
      expect(leaked(forOfficer.text).sort()).toEqual(raw.filter((v) => v !== 'ann.second@example.org').sort());
      expect(forOfficer.body.traits).toEqual(rawTraits);

      // The timeline: payloads as the masked events view has them.
      const timeline = await call<{ events: TimelineEvent[] }>('/v1/console/profiles/p-ann/events', analyst.secret);
      expect(timeline.status).toBe(200);
      expect(leaked(timeline.text)).toEqual([]);
      expect(
        timeline.body.events
          .map((e) => ({ message_id: e.messageId, properties: e.properties }))
          .sort((a, b) => a.message_id.localeCompare(b.message_id)),
      ).toEqual(maskedEvents);
      expect(JSON.parse(maskedEvents[0]!.properties)).toEqual({ contact: emailPseudonym, sku: 'A1' });
      const rawTimeline = await call('/v1/console/profiles/p-ann/events', officer.secret);
      expect(leaked(rawTimeline.text).sort()).toEqual([email.toLowerCase(), 'ann.second@example.org'].sort());

      // Search: an analyst finds by profile id or pseudonym, never by a raw value.
      const byRawEmail = await call<{ profiles: ProfileHit[] }>(
        `/v1/console/profiles?q=${encodeURIComponent(email)}`,
        analyst.secret,
      );
      expect(byRawEmail.body).toEqual({ profiles: [] });
      const byPrefix = await call<{ profiles: ProfileHit[] }>(
        `/v1/console/profiles?q=${encodeURIComponent(email.slice(0, 6))}`,
        analyst.secret,
      );
      expect(byPrefix.body).toEqual({ profiles: [] });
      const byPseudonym = await call<{ profiles: ProfileHit[] }>(
        `/v1/console/profiles?q=${emailPseudonym}`,
        analyst.secret,
      );
      expect(leaked(byPseudonym.text)).toEqual([]);
      expect(byPseudonym.body.profiles).toEqual([
        expect.objectContaining({
          profileId: 'p-ann',
          matched: [{ type: 'email', value: emailPseudonym }],
          email: emailPseudonym,
          name: (JSON.parse(maskedProfile!.traits) as { name: string }).name,
        }),
      ]);
      const byId = await call<{ profiles: ProfileHit[] }>('/v1/console/profiles?q=p-ann', analyst.secret);
      expect(byId.body.profiles.map((p) => p.profileId)).toEqual(['p-ann']);
      expect(leaked(byId.text)).toEqual([]);
      const officerSearch = await call<{ profiles: ProfileHit[] }>(
        `/v1/console/profiles?q=${encodeURIComponent(` ${email} `)}`,
        officer.secret,
      );
      expect(officerSearch.body.profiles).toEqual([
        expect.objectContaining({ profileId: 'p-ann', email: email.toLowerCase(), name: 'Ann Consolewood' }),
      ]);

      // Segment members: the email column as the masked views have it.
      const segment = await call<{ id: string }>('/v1/segments', adminToken, {
        method: 'POST',
        body: { name: 'gold', rule: { trait: 'plan', op: 'eq', value: 'gold' } },
      });
      expect(segment.status).toBe(201);
      type Members = { members: SegmentMember[] };
      let members = { status: 0, text: '', body: { members: [] } as Members };
      await waitFor(
        async () => {
          members = await call<Members>(`/v1/console/segments/${segment.body.id}/members`, analyst.secret);
          expect(members.body.members).toEqual([expect.objectContaining({ profileId: 'p-ann' })]);
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(members.body.members[0]!.email).toBe(emailPseudonym);
      const exported = await call(`/v1/console/segments/${segment.body.id}/export`, analyst.secret);
      expect(exported.text).toBe(`profile_id,since,email\np-ann,${members.body.members[0]!.since},${emailPseudonym}\n`);
      const adminMembers = await call<Members>(`/v1/console/segments/${segment.body.id}/members`, adminToken);
      expect(adminMembers.body.members[0]!.email).toBe(email.toLowerCase());

      // The audit trail names the profile of each console read, and whether raw data was answered.
      // Profile ids are kept there as keyed hashes (the PII key, here derived from the admin token).
      const annInTheTrail = profileIdHash(piiKeyOf({}, adminToken), 'p-ann');
      const expected = [
        [analyst.id, 'GET /v1/console/profiles', 0],
        [analyst.id, 'GET /v1/console/profiles/:id', 0],
        [analyst.id, 'GET /v1/console/profiles/:id/events', 0],
        [analyst.id, 'GET /v1/console/segments/:id/members', 0],
        [officer.id, 'GET /v1/console/profiles', 1],
        [officer.id, 'GET /v1/console/profiles/:id', 1],
        [officer.id, 'GET /v1/console/profiles/:id/events', 1],
      ];
      await waitFor(
        async () => {
          const rows = await sql<{ key_id: string; action: string; pii_returned: number }>(
            adminToken,
            `SELECT DISTINCT key_id, action, pii_returned FROM audit_log
             WHERE has(profile_ids, '${annInTheTrail}') AND key_id IN ('${analyst.id}', '${officer.id}') AND action LIKE '%/console/%'
             ORDER BY key_id = '${officer.id}', action`,
          );
          expect(rows.map((r) => [r.key_id, r.action, Number(r.pii_returned)])).toEqual(expected);
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      // The auditor's question by email finds the officer's search, which named it.
      const report = await call<{ records: { keyId: string; action: string }[] }>(
        `/v1/audit?profile=${encodeURIComponent(`email:${email}`)}`,
        officer.secret,
      );
      const actions = report.body.records.filter((r) => r.keyId === officer.id).map((r) => r.action);
      expect(actions).toContain('GET /v1/console/profiles');
      expect(leaked(report.text)).toEqual([]);
    }));
});
