import type { PrivacyRequest, SegmentChange } from '../../../schemas';
import { PrivacyKey } from '../../../services/common/privacy/privacy-key';
import { verifyReport } from '../../../services/common/privacy/privacy-report';
import { testKafka } from '../../support/kafka';
import { startPipeline, type RunningPipeline } from '../../support/pipeline';
import { fileRequest, latestByKey, requestDone, rowsNaming, sendEvents, testCodec } from '../../support/privacy';
import { testPrivacyKey } from '../../support/privacy-key';
import { withServiceLogsOnFailure } from '../../support/service-process';
import { uniqueName } from '../../support/stack-env';
import { readAll } from '../../support/stitcher';
import { waitFor } from '../../support/wait-for';

/**
 * An erase, end to end through the real services: a person with web, app, email and store
 * identifiers across two profiles the stitcher merged, with purchases, segments and an RFM row,
 * erased by one email. Afterwards every table and view (enumerated from system.tables) holds 0
 * rows naming any of their identifiers or profile ids, the compacted topics end in tombstones,
 * the report verifies with the privacy key, a fresh event with the old email starts a new
 * profile without history, and a full replay of the retained topics (new consumer groups for the
 * stitcher and the materializer) brings none of it back.
 */
jest.setTimeout(900_000);

const run = uniqueName('erase');
const ann = {
  web: `web-${run}`,
  app: `app-${run}`,
  device: `device-${run}`,
  user: `user-${run}`,
  email: `ann.${run}@example.com`,
  loyalty: `loyalty-${run}`,
};
const bob = { user: `bob-${run}`, email: `bob.${run}@example.com` };
const day = 86_400_000;
const start = Date.now() - 20 * day;
const at = (days: number): string => new Date(start + days * day).toISOString();

let pipeline: RunningPipeline;

beforeAll(async () => {
  pipeline = await startPipeline({ env: { SEGMENT_SWEEP_INTERVAL_MS: '2000' } });
});

afterAll(async () => {
  await pipeline?.stop();
});

interface Person {
  readonly profileId: string;
  readonly merged: string[];
}

it('erases a person everywhere, proves it, and never brings them back', () =>
  withServiceLogsOnFailure(async () => {
    const purchasers = await pipeline.api<{ id: string }>('POST', '/v1/segments', {
      name: `purchasers ${run}`,
      sql: "SELECT profile_id FROM events WHERE event = 'Order Completed'",
    });
    const marketing = await pipeline.api<{ id: string }>('POST', '/v1/segments', {
      name: `marketing ${run}`,
      rule: { trait: 'name', op: 'exists' },
      purpose: 'marketing',
    });

    // Ann on the web, then in the app (a profile of its own), identified in both (the app's
    // profile merges into the web's), and buying online and in a store by loyalty card. In
    // phases: events of one batch go to different partitions, and the merge needs this order.
    const phases: Record<string, unknown>[][] = [
      [
        {
          type: 'page',
          messageId: `${run}-1`,
          anonymousId: ann.web,
          name: 'Home',
          timestamp: at(0),
          channel: 'browser',
        },
        {
          type: 'screen',
          messageId: `${run}-3`,
          anonymousId: ann.app,
          name: 'Start',
          context: { device: { id: ann.device } },
          timestamp: at(2),
          channel: 'mobile',
        },
        {
          type: 'track',
          messageId: `${run}-4`,
          anonymousId: ann.app,
          event: 'Order Completed',
          properties: { order_id: `${run}-o1`, revenue: 120, currency: 'USD' },
          context: { device: { id: ann.device } },
          timestamp: at(3),
          channel: 'mobile',
        },
      ],
      [
        {
          type: 'identify',
          messageId: `${run}-2`,
          anonymousId: ann.web,
          userId: ann.user,
          traits: { email: ann.email.toUpperCase(), name: 'Ann' },
          context: { consent: { categoryPreferences: { marketing: true } } },
          timestamp: at(1),
          channel: 'browser',
        },
      ],
      [
        {
          type: 'identify',
          messageId: `${run}-5`,
          anonymousId: ann.app,
          userId: ann.user,
          context: { device: { id: ann.device } },
          timestamp: at(4),
          channel: 'mobile',
        },
      ],
      [
        {
          type: 'track',
          messageId: `${run}-6`,
          anonymousId: `pos-${run}`,
          event: 'Order Completed',
          properties: { order_id: `${run}-o2`, revenue: 80, currency: 'USD' },
          context: { traits: { loyaltyId: ann.loyalty, email: ann.email } },
          timestamp: at(5),
        },
        {
          type: 'identify',
          messageId: `${run}-b1`,
          userId: bob.user,
          traits: { email: bob.email, name: 'Bob' },
          context: { consent: { categoryPreferences: { marketing: true } } },
          timestamp: at(1),
        },
        {
          type: 'track',
          messageId: `${run}-b2`,
          userId: bob.user,
          event: 'Order Completed',
          properties: { order_id: `${run}-ob`, revenue: 50, currency: 'USD' },
          timestamp: at(6),
        },
      ],
    ];
    let sent = 0;
    for (const phase of phases) {
      await sendEvents(pipeline, phase);
      sent += phase.length;
      await waitFor(
        async () => {
          const [row] = await pipeline.sql<{ n: string }>(
            'SELECT count() AS n FROM events WHERE startsWith(message_id, {r:String})',
            { r: run },
          );
          if (Number(row?.n) < sent) throw new Error(`${row?.n} of ${sent} events stored`);
        },
        { timeoutMs: 60_000, intervalMs: 300 },
      );
    }

    // Materialized: one profile for Ann (the app's merged into it), with her purchases, segments and RFM row.
    const person = await waitFor(
      async (): Promise<Person> => {
        const [profile] = await pipeline.sql<{ profile_id: string; identifiers: string[] }>(
          "SELECT profile_id, identifiers FROM profiles WHERE has(identifiers, concat('user_id:', {u:String}))",
          { u: ann.user },
        );
        if (!profile) throw new Error('no profile yet');
        expect([...profile.identifiers].sort()).toEqual(
          [
            `anonymous_id:${ann.app}`,
            `anonymous_id:${ann.web}`,
            `anonymous_id:pos-${run}`,
            `customer_id:${ann.loyalty}`,
            `device_id:${ann.device}`,
            `email:${ann.email}`,
            `user_id:${ann.user}`,
          ].sort(),
        );
        const merged = await pipeline.sql<{ absorbed_profile_id: string }>(
          'SELECT absorbed_profile_id FROM profile_aliases WHERE surviving_profile_id = {p:String}',
          { p: profile.profile_id },
        );
        expect(merged).toHaveLength(1);
        const segments = await pipeline.sql<{ segment_id: string }>(
          'SELECT segment_id FROM segment_members WHERE profile_id = {p:String} ORDER BY segment_id',
          { p: profile.profile_id },
        );
        expect(segments.map((s) => s.segment_id).sort()).toEqual([purchasers.id, marketing.id].sort());
        const rfm = await pipeline.sql('SELECT frequency FROM rfm WHERE profile_id = {p:String}', {
          p: profile.profile_id,
        });
        expect(rfm).toEqual([{ frequency: 2 }]);
        return { profileId: profile.profile_id, merged: merged.map((m) => m.absorbed_profile_id) };
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const profileIds = [person.profileId, ...person.merged];
    const identifierValues = [ann.web, ann.app, `pos-${run}`, ann.loyalty, ann.device, ann.email, ann.user];
    const everything = [...profileIds, ...identifierValues];
    expect(Object.keys(await rowsNaming(pipeline, everything, everything)).length).toBeGreaterThan(10);

    // Erase by one email, as given by the person (another spelling than the one stored).
    const requestId = await fileRequest(pipeline, 'erase', { type: 'email', value: ` ${ann.email.toUpperCase()} ` });
    const done = await requestDone(pipeline, requestId);
    expect(done.status).toBe('completed');

    // 0 rows in every table and view for every identifier and profile id.
    expect(await rowsNaming(pipeline, everything, everything)).toEqual({});
    // Bob is untouched.
    expect(Object.keys(await rowsNaming(pipeline, [bob.user, bob.email], [])).length).toBeGreaterThan(5);

    // The report: signed, verified, every deleted store named with 0 after, residual data with dates.
    const report = done.report!;
    expect(verifyReport(report, PrivacyKey.fromHex(testPrivacyKey))).toEqual({
      valid: true,
      reason: 'signature matches',
    });
    expect(verifyReport({ ...report, verified: false }, PrivacyKey.fromHex(testPrivacyKey)).valid).toBe(false);
    expect(report.verified).toBe(true);
    expect(report.deadlineMet).toBe(true);
    expect(report.subject.profileIdHashes).toHaveLength(1);
    expect(report.subject.mergedProfileIdHashes).toHaveLength(1);
    expect(report.subject.identifiers).toHaveLength(7);
    const events = report.clickhouse.find((s) => s.store === 'events_store')!;
    expect(events).toMatchObject({ rows: 6, deleted: 6, after: 0, matchedBy: ['profile_id'] });
    expect(report.clickhouse.every((s) => s.after === 0)).toBe(true);
    expect(report.kafka.find((k) => k.action === 'tombstones')?.records).toBe(2);
    expect(report.kafka.find((k) => k.action === 'segment exits')?.records).toBe(2);
    const raw = report.residual.find((r) => r.topic === pipeline.topics.raw)!;
    expect(raw.records).toBe(6);
    expect(Date.parse(raw.removedBy!)).toBeGreaterThan(Date.now());
    expect(report.residual.find((r) => r.topic === pipeline.topics.stitched)?.records).toBe(6);
    expect(JSON.stringify(done)).not.toContain(ann.email);
    expect(done.subject).toMatchObject({ hashed: true, outcome: 'found' });

    // Compacted topics end in tombstones; the segment exits say why; the deletion notice is out.
    const kafka = testKafka();
    const graph = await latestByKey(kafka, pipeline.topics.graph);
    for (const key of [
      `email:${ann.email}`,
      `user_id:${ann.user}`,
      `anonymous_id:${ann.web}`,
      `anonymous_id:${ann.app}`,
      `device_id:${ann.device}`,
      `customer_id:${ann.loyalty}`,
    ])
      expect(graph.get(key)).toBeNull();
    expect(graph.get(`user_id:${bob.user}`)).toBeInstanceOf(Buffer);
    const updates = await latestByKey(kafka, pipeline.topics.updates);
    for (const id of profileIds) expect(updates.get(id)).toBeNull();
    const codec = testCodec();
    const changes = await Promise.all(
      (await readAll(kafka, pipeline.topics.segments))
        .filter((m) => m.value && m.key?.toString() === person.profileId)
        .map(async (m) => (await codec.decode<SegmentChange>(m.value!)).value),
    );
    expect(
      changes
        .filter((c) => c.change === 'exited')
        .map((c) => [c.segmentId, c.reason])
        .sort(),
    ).toEqual(
      [
        [purchasers.id, 'erased'],
        [marketing.id, 'erased'],
      ].sort(),
    );
    const notices = await Promise.all(
      (await readAll(kafka, pipeline.topics.privacy)).map(
        async (m) => (await codec.decode<PrivacyRequest>(m.value!)).value,
      ),
    );
    const notice = notices.find((n) => n.requestId === requestId && n.phase === 'completed')!;
    expect(notice.kind).toBe('erase');
    expect([...notice.subject!.profileIds, ...notice.subject!.mergedProfileIds].sort()).toEqual([...profileIds].sort());
    expect(notice.subject!.identifiers.map((i) => `${i.type}:${i.value}`)).toContain(`email:${ann.email}`);

    // A fresh event with the old email: a new, unrelated profile with no history.
    await sendEvents(pipeline, [
      {
        type: 'identify',
        messageId: `${run}-fresh`,
        anonymousId: `fresh-${run}`,
        traits: { email: ann.email },
        timestamp: new Date().toISOString(),
      },
    ]);
    const fresh = await waitFor(
      async () => {
        const [row] = await pipeline.sql<{ profile_id: string }>(
          "SELECT profile_id FROM identities WHERE identifier_type = 'email' AND identifier_value = {e:String}",
          { e: ann.email },
        );
        if (!row) throw new Error('no fresh profile yet');
        return row.profile_id;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(profileIds).not.toContain(fresh);
    await expectOnlyTheFreshProfile(fresh);

    // A full replay: the stitcher and the materializer read every retained topic again from the start.
    await pipeline.restart('identity-stitcher', { env: { STITCHER_GROUP_ID: uniqueName('replay-stitcher') } });
    const replayGroup = uniqueName('replay-materializer');
    await pipeline.restart('profile-materializer', { env: { MATERIALIZER_GROUP_ID: replayGroup } });
    await waitFor(
      async () => {
        const admin = kafka.admin();
        await admin.connect();
        try {
          const lag = await admin.groupLag(replayGroup, [pipeline.topics.stitched, pipeline.topics.changes]);
          expect(lag.length).toBeGreaterThan(0);
          expect(lag.filter((l) => l.lag > 0 || (Number(l.committed) < 0 && Number(l.end) > 0))).toEqual([]);
        } finally {
          await admin.disconnect();
        }
      },
      { timeoutMs: 180_000, intervalMs: 1_000 },
    );
    const others = everything.filter((value) => value !== ann.email);
    expect(await rowsNaming(pipeline, others, others)).toEqual({});
    await expectOnlyTheFreshProfile(fresh);
    const again = await latestByKey(kafka, pipeline.topics.graph);
    expect(again.get(`user_id:${ann.user}`)).toBeNull();
    expect(again.get(`email:${ann.email}`)).toBeInstanceOf(Buffer); // the fresh profile's

    // Erasing an identifier that was erased before: a defined answer, nothing else touched.
    const second = await requestDone(
      pipeline,
      await fileRequest(pipeline, 'erase', { type: 'user_id', value: ann.user }),
    );
    expect(second).toMatchObject({ status: 'completed', subject: { outcome: 'already_erased', erasedBy: requestId } });
    expect(second.report?.verified).toBe(true);
    await expectOnlyTheFreshProfile(fresh);

    // An identifier no profile holds: completed, an empty subject, a report saying so.
    const nobody = await requestDone(
      pipeline,
      await fileRequest(pipeline, 'erase', { type: 'email', value: `nobody.${run}@example.com` }),
    );
    expect(nobody).toMatchObject({ status: 'completed', subject: { outcome: 'not_found', profileIds: [] } });
    expect(nobody.report?.subject.summary).toMatch(/no profile holds the identifier/);
  }));

/** The old email now belongs to the fresh profile alone, which has one event and none of Ann's history. */
async function expectOnlyTheFreshProfile(fresh: string): Promise<void> {
  // The events view reads FINAL: a replay writes the fresh event again, as a copy merges collapse.
  const naming = await rowsNaming(pipeline, [ann.email], [ann.email]);
  expect(naming.events).toBe(1);
  const events = await pipeline.sql<{ message_id: string }>(
    'SELECT message_id FROM events WHERE profile_id = {p:String}',
    {
      p: fresh,
    },
  );
  expect(events).toEqual([{ message_id: `${run}-fresh` }]);
  expect(await pipeline.sql('SELECT * FROM rfm WHERE profile_id = {p:String}', { p: fresh })).toEqual([]);
  expect(await pipeline.sql('SELECT * FROM segment_members WHERE profile_id = {p:String}', { p: fresh })).toEqual([]);
}
