import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { seedAudience, serveReadApi } from '../../../bench/support/audience-fixture';
import { type AccessDecision, KeyCache } from '../../../services/common/access';
import { PrivacyKey } from '../../../services/common/privacy/privacy-key';
import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import {
  activatorEnv,
  createActivatorTopics,
  followAudit,
  startActivator,
  startReceiver,
  testAdminToken,
  testKey,
  type RunningActivator,
} from '../../support/activator';
import { testKafka } from '../../support/kafka';
import { freePort } from '../../support/ports';
import { testPrivacyKey } from '../../support/privacy-key';
import { withServiceLogsOnFailure } from '../../support/service-process';
import { waitFor } from '../../support/wait-for';
import { embeddedHome, freshDatabase, quietLogger } from '../profile-materializer/materializer-test-env';

/**
 * Audience exports end to end: members in real ClickHouse (embedded), served by the read API's
 * streaming endpoint, exported by the activator as files of hashed identifiers. The hashes are
 * checked against Python's hashlib over identifiers normalised by hand, not by our code.
 */
const kafka = testKafka();
let ch: ClickHouse;
let readApi: { url: string; close(): Promise<void> };
let activator: RunningActivator;
let exportRoot: string;
let segmentId: string;
let audit: Awaited<ReturnType<typeof followAudit>>;
const readApiKeys = new KeyCache();
const decisions: AccessDecision[] = [];
const keys = { analyst: testKey('analyst'), privacy: testKey('privacy-officer'), admin: testKey('admin') };

beforeAll(async () => {
  ch = await freshDatabase(embeddedHome('exports'));
  ({ segmentId } = await seedAudience(ch, { members: 30 }));
  // A member whose identifiers were stored unnormalised, and one without any.
  await ch.command(
    `INSERT INTO profiles_store (profile_id, traits, first_seen, last_seen, consent, channels, identifiers, version) VALUES
     ('p-odd', '{}', now64(3), now64(3), map('advertising', true), ['web'], ['email:  Ann.Lee@Example.COM ', 'phone:4915199999999', 'user_id:u-1'], 1),
     ('p-none', '{}', now64(3), now64(3), map('advertising', true), ['web'], ['user_id:u-2'], 1)`,
  );
  await ch.command(
    `INSERT INTO segment_members_store (segment_id, profile_id, is_member, since, changed_at, version) VALUES
     ({s:String}, 'p-odd', 1, now64(3), toDateTime64('2026-01-01 00:00:00', 3, 'UTC'), 1),
     ({s:String}, 'p-none', 1, now64(3), toDateTime64('2026-01-01 00:00:00', 3, 'UTC'), 1)`,
    { s: segmentId },
  );
  for (const key of Object.values(keys)) readApiKeys.put(key.record);
  readApi = await serveReadApi(ch, {
    port: await freePort(),
    adminToken: testAdminToken,
    logger: quietLogger,
    keys: readApiKeys,
    onDecision: async (decision) => {
      decisions.push(decision);
    },
  });
  exportRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-exports-'));
  const names = await createActivatorTopics(kafka);
  audit = await followAudit(kafka, names.audit);
  activator = await startActivator(
    activatorEnv(names, { KUMIKI_READ_API_URL: readApi.url, ACTIVATOR_EXPORT_ROOT: exportRoot }),
  );
});

afterAll(async () => {
  await activator?.stop();
  await audit?.stop();
  await readApi?.close();
  await ch?.close();
});

function pythonSha256(values: readonly string[]): string[] {
  const script =
    'import hashlib,json,sys\nprint(json.dumps([hashlib.sha256(v.encode()).hexdigest() for v in json.load(sys.stdin)]))';
  return JSON.parse(execFileSync('python3', ['-c', script], { input: JSON.stringify(values) }).toString()) as string[];
}

async function createExport(fields: Record<string, unknown>): Promise<string> {
  const { status, body } = await activator.api<{ id: string }>('POST', '/v1/destinations', {
    name: 'customer match',
    type: 'export',
    segments: [segmentId],
    identifiers: ['email', 'phone'],
    purposes: ['advertising'],
    ...fields,
  });
  if (status !== 201) throw new Error(`create answered ${status}: ${JSON.stringify(body)}`);
  return body.id;
}

test('a full CSV export holds the hashed identifiers of every consenting member, and only theirs, each on record', () =>
  withServiceLogsOnFailure(async () => {
    const id = await createExport({ export: { format: 'csv', mode: 'full', directory: 'ads' } });
    const { status, body } = await activator.api<Record<string, unknown>>('POST', `/v1/destinations/${id}/export`);
    expect(status).toBe(200);
    // 30 seeded (every tenth without advertising consent: p0, p10, p20) + p-odd + p-none.
    expect(body).toMatchObject({ mode: 'full', members: 32, withheld: 3, withoutIdentifiers: 1, rows: 28 });
    const file = String(body.location);
    expect(path.dirname(file)).toBe(path.join(exportRoot, 'ads'));
    const [header, ...rows] = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(header).toBe('email,phone');

    const consenting = Array.from({ length: 30 }, (_, n) => n).filter((n) => n % 10 !== 0);
    const emails = [...consenting.map((n) => `user${n}@example.com`), 'ann.lee@example.com'];
    const phones = [...consenting.map((n) => `+49151${String(n).padStart(8, '0')}`), '+4915199999999'];
    const expected = pythonSha256([...emails, ...phones]);
    const expectedRows = emails.map((_, i) => `${expected[i]},${expected[emails.length + i]}`);
    expect(rows.sort()).toEqual(expectedRows.sort());
    expect((fs.statSync(file).mode & 0o777).toString(8)).toBe('600');
    // Every member written is in the exports' recipient ledger, by keyed hash only, and nobody else.
    const key = PrivacyKey.fromHex(testPrivacyKey);
    const written = [...consenting.map((n) => `p${String(n).padStart(8, '0')}`), 'p-odd'];
    const recorded = await ch.query<{ h: string }>(
      'SELECT DISTINCT profile_id_hash AS h FROM export_recipients_store WHERE destination_id = {d:String}',
      { d: id },
    );
    expect(recorded.map((r) => r.h).sort()).toEqual(written.map((p) => key.hashProfileId(p)).sort());
    // Written to kumiki.audit before the file was moved into place, attributed to the key that set it up.
    await waitFor(() =>
      expect(audit.records.filter((r) => r.resource === `destination:${id}`)).toContainEqual(
        expect.objectContaining({
          service: 'activator',
          keyId: 'admin-token',
          action: `EXPORT segment:${segmentId}`,
          source: path.join(exportRoot, 'ads'),
          rows: 28,
          piiReturned: true,
        }),
      ),
    );
  }));

test('a delta export after a full one holds only what changed since, as add and remove', () =>
  withServiceLogsOnFailure(async () => {
    const id = await createExport({ export: { format: 'ndjson', mode: 'delta', directory: 'delta' } });
    const first = await activator.api<Record<string, unknown>>('POST', `/v1/destinations/${id}/export`);
    expect(first.body).toMatchObject({ mode: 'full', members: 32 });

    // p00000001 leaves, p00000099 joins (a new profile), p00000010 (no consent) leaves.
    await ch.command(
      `INSERT INTO profiles_store (profile_id, traits, first_seen, last_seen, consent, channels, identifiers, version) VALUES
       ('p00000099', '{}', now64(3), now64(3), map('advertising', true), ['web'], ['email:user99@example.com'], 1)`,
    );
    await ch.command(
      `INSERT INTO segment_members_store (segment_id, profile_id, is_member, since, changed_at, version) VALUES
       ({s:String}, 'p00000001', 0, now64(3), now64(3), 2),
       ({s:String}, 'p00000010', 0, now64(3), now64(3), 2),
       ({s:String}, 'p00000099', 1, now64(3), now64(3), 2)`,
      { s: segmentId },
    );
    const second = await activator.api<Record<string, unknown>>('POST', `/v1/destinations/${id}/export`);
    expect(second.body).toMatchObject({ mode: 'delta', members: 3, withheld: 1, rows: 2 });
    const lines = fs
      .readFileSync(String(second.body.location), 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const [user1, user99, phone1] = pythonSha256(['user1@example.com', 'user99@example.com', '+4915100000001']);
    expect(lines).toEqual([
      { action: 'remove', email: [user1], phone: [phone1] },
      { action: 'add', email: [user99], phone: [] },
    ]);
  }));

test('an export handed to a webhook is POSTed whole and signed', () =>
  withServiceLogsOnFailure(async () => {
    const receiver = await startReceiver();
    try {
      const { status, body } = await activator.api<{ id: string; secret: string }>('POST', '/v1/destinations', {
        name: 'to a webhook',
        type: 'export',
        url: receiver.url,
        segments: [segmentId],
        identifiers: ['email'],
        purposes: ['advertising'],
        export: { format: 'csv' },
      });
      expect(status).toBe(201);
      const run = await activator.api<{ exportId: string; rows: number }>('POST', `/v1/destinations/${body.id}/export`);
      expect(run.status).toBe(200);
      const [request] = receiver.requests;
      expect(request!.headers['content-type']).toBe('text/csv');
      expect(request!.headers['webhook-id']).toBe(run.body.exportId);
      const headers = request!.headers as Record<string, string>;
      const verify = (text: string): unknown => new Webhook(body.secret).verify(text, headers, { jsonParse: false });
      verify(request!.body); // throws WebhookVerificationError unless a signature matches
      // The signature covers the whole file: one changed byte fails.
      expect(() => verify(request!.body.replace('a', 'b'))).toThrow(/signature/i);
      expect(request!.body.trimEnd().split('\n')).toHaveLength(run.body.rows + 1);
    } finally {
      await receiver.close();
    }
  }));

test('an export of an unknown segment is refused at creation', () =>
  withServiceLogsOnFailure(async () => {
    const { status, body } = await activator.api<{ code: string; field: string }>('POST', '/v1/destinations', {
      name: 'nothing',
      type: 'export',
      segments: ['seg_does_not_exist'],
      identifiers: ['email'],
      purposes: ['advertising'],
      export: { directory: 'x' },
    });
    expect([status, body.code, body.field]).toEqual([400, 'KUMIKI_INVALID_DESTINATION', 'segments[0]']);
    const outside = await activator.api<{ code: string; field: string }>('POST', '/v1/destinations', {
      name: 'outside',
      type: 'export',
      segments: [segmentId],
      identifiers: ['email'],
      purposes: ['advertising'],
      export: { directory: '../../etc' },
    });
    expect([outside.status, outside.body.field]).toEqual([400, 'export.directory']);
  }));

test('the members export needs segment:read, and pii:read unless identifiers=false; each read is audited', () =>
  withServiceLogsOnFailure(async () => {
    const exportOf = async (key: { secret: string }, query = '') => {
      const response = await fetch(`${readApi.url}/v1/segments/${segmentId}/members/export${query}`, {
        headers: { authorization: `Bearer ${key.secret}` },
      });
      return { status: response.status, text: await response.text() };
    };
    decisions.length = 0;
    const [count] = await ch.query<{ n: string }>(
      'SELECT count() AS n FROM segment_members WHERE segment_id = {s:String}',
      { s: segmentId },
    );
    const members = Number(count!.n);
    expect(members).toBeGreaterThan(25);
    // An analyst reads segments but not personal data; a privacy officer the reverse.
    const refused = await exportOf(keys.analyst);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text)).toMatchObject({
      code: 'KUMIKI_FORBIDDEN',
      message: expect.stringContaining('pii:read'),
    });
    const noSegmentRead = await exportOf(keys.privacy);
    expect(noSegmentRead.status).toBe(403);
    expect(JSON.parse(noSegmentRead.text).message).toContain('segment:read');

    const pseudonymous = await exportOf(keys.analyst, '?identifiers=false');
    expect(pseudonymous.status).toBe(200);
    const lines = pseudonymous.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toEqual({ complete: true, rows: lines.length - 1 });
    expect(lines.slice(0, -1).every((l) => Array.isArray(l.identifiers) && l.identifiers.length === 0)).toBe(true);
    expect(lines.slice(0, -1).map((l) => l.profileId)).toContain('p-odd');

    const full = await exportOf(keys.admin);
    expect(full.status).toBe(200);
    expect(full.text).toContain('"email:user2@example.com"');

    const audited = decisions.map((d) => ({
      key: d.principal?.keyId ?? d.claimed?.id,
      status: d.status,
      resource: d.details.resource,
      pii: d.details.piiReturned ?? false,
      rows: d.details.rows,
    }));
    expect(audited).toEqual([
      { key: keys.analyst.record.id, status: 403, resource: `segment:${segmentId}`, pii: false, rows: undefined },
      { key: keys.privacy.record.id, status: 403, resource: undefined, pii: false, rows: undefined },
      { key: keys.analyst.record.id, status: 200, resource: `segment:${segmentId}`, pii: false, rows: members },
      { key: keys.admin.record.id, status: 200, resource: `segment:${segmentId}`, pii: true, rows: members },
    ]);
  }));
