import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { DeadLetter, PrivacyRequest } from '../../../schemas';
import { schema } from '../../../schemas';
import { encodeFramed } from '../../../services/common/registry';
import { requestRecord } from '../../../services/common/privacy/privacy-request';
import { ADMIN_TOKEN_KEY_ID, piiKeyOf } from '../../../services/common/access';
import { identifierHash, profileIdHash } from '../../../services/common/audit/keyed-hash';
import { testKafka } from '../../support/kafka';
import { startPipeline, type RunningPipeline } from '../../support/pipeline';
import {
  fileRequest,
  metricValue,
  requestDone,
  sendEvents,
  testCodec,
  type RequestAnswer,
} from '../../support/privacy';
import { testPrivacyKey } from '../../support/privacy-key';
import { withServiceLogsOnFailure } from '../../support/service-process';
import { uniqueName } from '../../support/stack-env';
import { readAll } from '../../support/stitcher';
import { waitFor } from '../../support/wait-for';

/**
 * Suppress, export and bad input through the real services (the erase has its own file).
 */
jest.setTimeout(600_000);

const run = uniqueName('requests');
let pipeline: RunningPipeline;

beforeAll(async () => {
  pipeline = await startPipeline();
});

afterAll(async () => {
  await pipeline?.stop();
});

/** Waits until these messageIds are stored (the events view) and returns how many are. */
async function stored(messageIds: readonly string[]): Promise<number> {
  const [row] = await pipeline.sql<{ n: string }>(
    'SELECT count() AS n FROM events WHERE message_id IN {ids:Array(String)}',
    {
      ids: [...messageIds],
    },
  );
  return Number(row?.n ?? 0);
}

async function waitStored(messageIds: readonly string[]): Promise<void> {
  await waitFor(
    async () => {
      const n = await stored(messageIds);
      if (n < messageIds.length) throw new Error(`${n} of ${messageIds.length} stored`);
    },
    { timeoutMs: 60_000, intervalMs: 300 },
  );
}

it('suppress: events with a new device linked to the suppressed user are accepted but never stored; unsuppress lifts it', () =>
  withServiceLogsOnFailure(async () => {
    const user = `sup-${run}`;
    await sendEvents(pipeline, [
      { type: 'identify', messageId: `${run}-s1`, userId: user, traits: { email: `${user}@example.com` } },
    ]);
    await waitStored([`${run}-s1`]);
    const before = await metricValue(pipeline.stitcher.url, 'kumiki_inputs_stopped_total', {
      step: 'drop-suppressed-subject',
    });
    const done = await requestDone(pipeline, await fileRequest(pipeline, 'suppress', { type: 'user_id', value: user }));
    expect(done).toMatchObject({ status: 'completed', subject: { hashed: false, outcome: 'found' } });
    // What was held stays (suppress is not erase); the report counts it.
    expect(done.report?.clickhouse.find((s) => s.store === 'events_store')).toMatchObject({ rows: 1, deleted: 0 });

    // A new device linked to the same user id, then that device alone, then the user with a new
    // anonymous id: one at a time, so the device is known to the suppression before it comes alone.
    const suppressed = [`${run}-s2`, `${run}-s3`, `${run}-s4`];
    const dropped = (count: number) =>
      waitFor(
        async () => {
          const now = await metricValue(pipeline.stitcher.url, 'kumiki_inputs_stopped_total', {
            step: 'drop-suppressed-subject',
          });
          expect(now - before).toBe(count);
        },
        { timeoutMs: 30_000, intervalMs: 300 },
      );
    await sendEvents(pipeline, [
      {
        type: 'track',
        messageId: suppressed[0],
        userId: user,
        event: 'Viewed',
        context: { device: { id: `dev-${run}` } },
      },
    ]);
    await dropped(1);
    await sendEvents(pipeline, [
      {
        type: 'track',
        messageId: suppressed[1],
        anonymousId: `anon-${run}`,
        event: 'Viewed',
        context: { device: { id: `dev-${run}` } },
      },
    ]);
    await dropped(2);
    await sendEvents(pipeline, [
      { type: 'page', messageId: suppressed[2], userId: user, anonymousId: `anon2-${run}`, name: 'Home' },
    ]);
    await dropped(3);
    // Someone else after them: once their event is stored, the materializer is past the suppressed ones' place.
    await sendEvents(pipeline, [{ type: 'identify', messageId: `${run}-other`, userId: `other-${run}` }]);
    await waitStored([`${run}-other`]);
    expect(await stored(suppressed)).toBe(0);
    const stitched = (await readAll(testKafka(), pipeline.topics.stitched)).filter((m) =>
      suppressed.some((id) => m.value?.includes(id)),
    );
    expect(stitched).toEqual([]);
    const identities = await pipeline.sql('SELECT * FROM identities WHERE identifier_value IN {v:Array(String)}', {
      v: [`dev-${run}`, `anon-${run}`, `anon2-${run}`],
    });
    expect(identities).toEqual([]);

    // The list holds keyed hashes only.
    const list = await pipeline.api<{ requests: { requestId: string; identifier: { type: string; hash: string } }[] }>(
      'GET',
      '/v1/privacy/requests?type=suppress',
    );
    const entry = list.requests.find((r) => r.requestId === done.requestId)!;
    expect(entry.identifier.hash).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.stringify(list)).not.toContain(user);

    // Unsuppressed: the next event is stored again.
    const lifted = await requestDone(
      pipeline,
      await fileRequest(pipeline, 'unsuppress', { type: 'user_id', value: user }),
    );
    expect(lifted).toMatchObject({ status: 'completed', outcome: 'suppression lifted' });
    await sendEvents(pipeline, [{ type: 'track', messageId: `${run}-s5`, userId: user, event: 'Viewed' }]);
    await waitStored([`${run}-s5`]);
  }));

it('export: one JSON with all of the person and nothing of anyone else', () =>
  withServiceLogsOnFailure(async () => {
    const carol = { user: `carol-${run}`, email: `carol.${run}@example.com`, device: `tablet-${run}` };
    const dave = { user: `dave-${run}`, email: `dave.${run}@example.com` };
    const mine = [`${run}-c1`, `${run}-c2`, `${run}-c3`];
    await sendEvents(pipeline, [
      {
        type: 'identify',
        messageId: mine[0],
        userId: carol.user,
        traits: { email: carol.email, plan: 'pro' },
        context: { device: { id: carol.device }, consent: { categoryPreferences: { marketing: true } } },
      },
      {
        type: 'track',
        messageId: mine[1],
        userId: carol.user,
        event: 'Order Completed',
        properties: { order_id: `${run}-co`, revenue: 42 },
      },
    ]);
    await waitStored(mine.slice(0, 2));
    // Dave on Carol's shared tablet: his user id decides, the tablet is refused for him.
    await sendEvents(pipeline, [
      {
        type: 'identify',
        messageId: `${run}-d1`,
        userId: dave.user,
        traits: { email: dave.email },
        context: { device: { id: carol.device } },
      },
    ]);
    await sendEvents(pipeline, [{ type: 'page', messageId: mine[2], userId: carol.user, name: 'Account' }]);
    await waitStored([...mine, `${run}-d1`]);
    await pipeline.api('GET', `/v1/profiles/email/${encodeURIComponent(carol.email)}`);

    const done = await requestDone(
      pipeline,
      await fileRequest(pipeline, 'export', { type: 'email', value: carol.email }),
    );
    expect(done.status).toBe('completed');
    const document = await pipeline.api<{
      subject: { profileIds: string[]; identifiers: { type: string; value: string }[] };
      tables: Record<string, Record<string, unknown>[]>;
    }>('GET', `/v1/privacy/requests/${done.requestId}/export`);
    const text = JSON.stringify(document);
    // All of Carol: her events, identifiers with provenance, traits, consent, order.
    for (const id of mine) expect(text).toContain(id);
    expect(document.subject.identifiers.map((i) => `${i.type}:${i.value}`).sort()).toEqual(
      [`device_id:${carol.device}`, `email:${carol.email}`, `user_id:${carol.user}`].sort(),
    );
    expect(document.tables.events_store?.map((row) => row.message_id).sort()).toEqual([...mine].sort());
    expect(document.tables.profile_statements_store?.some((row) => String(row.traits).includes('"pro"'))).toBe(true);
    expect(document.tables.identity_links_store?.length).toBeGreaterThan(0);
    // Nothing of Dave's, although he shares her tablet (his refused link names it).
    for (const value of [dave.user, dave.email, `${run}-d1`]) expect(text).not.toContain(value);
    const daveProfile = await pipeline.sql<{ profile_id: string }>(
      "SELECT profile_id FROM identities WHERE identifier_type = 'user_id' AND identifier_value = {u:String}",
      { u: dave.user },
    );
    expect(text).not.toContain(daveProfile[0]!.profile_id);

    // Who accessed her data, from the audit trail: the profile lookup, the request, the export.
    const exportPath = `/v1/privacy/requests/${done.requestId}/export`;
    const accessed = await waitFor(
      async () => {
        const again = await pipeline.api<{ accessedBy: { action: string; keyId: string }[] }>('GET', exportPath);
        expect(again.accessedBy.map((a) => a.action)).toEqual(
          expect.arrayContaining([
            'GET /v1/profiles/:type/:value',
            'POST /v1/privacy/requests',
            'GET /v1/privacy/requests/:id/export',
          ]),
        );
        return again.accessedBy;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(new Set(accessed.map((a) => a.keyId))).toEqual(new Set([ADMIN_TOKEN_KEY_ID]));
    // The export's own audit record: who, which subject — as keyed hashes only.
    const piiKey = piiKeyOf({}, pipeline.adminToken);
    const [audited] = await pipeline.sql<{ identifier_hashes: string[]; profile_ids: string[]; pii_returned: number }>(
      'SELECT identifier_hashes, profile_ids, pii_returned FROM audit_log FINAL WHERE resource = {r:String} LIMIT 1',
      { r: `privacy-export:${done.requestId}` },
    );
    expect(audited!.pii_returned).toBe(1);
    expect([...audited!.identifier_hashes].sort()).toEqual(
      document.subject.identifiers.map((i) => identifierHash(piiKey, i.type, i.value)).sort(),
    );
    expect([...audited!.profile_ids].sort()).toEqual(
      document.subject.profileIds.map((id) => profileIdHash(piiKey, id)).sort(),
    );

    // An export of another type's request, or one not completed, is refused with a clear code.
    const erase = await fileRequest(pipeline, 'erase', { type: 'email', value: `ghost.${run}@example.com` });
    await expect(pipeline.api('GET', `/v1/privacy/requests/${erase}/export`)).rejects.toThrow(
      /409.*KUMIKI_PRIVACY_EXPORT_NOT_READY/,
    );
  }));

it('bad input: clear 4xx at the API; a malformed PrivacyRequest on Kafka goes to the DLQ with the reason', () =>
  withServiceLogsOnFailure(async () => {
    const post = (body: unknown) =>
      fetch(`${pipeline.materializer.url}/v1/privacy/requests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${pipeline.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { code: string; field?: string; message: string },
      }));
    expect(await post({ type: 'forget', identifier: { type: 'email', value: 'a@b.io' } })).toMatchObject({
      status: 400,
      body: { code: 'KUMIKI_INVALID_PRIVACY_REQUEST', field: 'type' },
    });
    const unknownType = await post({ type: 'erase', identifier: { type: 'emial', value: 'a@b.io' } });
    expect(unknownType).toMatchObject({
      status: 400,
      body: { code: 'KUMIKI_INVALID_PRIVACY_REQUEST', field: 'identifier.type' },
    });
    expect(unknownType.body.message).toContain('email');
    expect(await post({ type: 'erase', identifier: { type: 'email', value: ' ' } })).toMatchObject({
      status: 400,
      body: { field: 'identifier.value' },
    });
    expect(
      (await pipeline
        .api<RequestAnswer>('GET', '/v1/privacy/requests/pr_nope')
        .catch((e: Error) => e.message)) as string,
    ).toMatch(/404.*KUMIKI_PRIVACY_REQUEST_NOT_FOUND/);

    // Straight onto Kafka: bytes that are no PrivacyRequest, and a request whose email cannot be one.
    const kafka = testKafka();
    const producer = kafka.producer();
    await producer.connect();
    const codec = testCodec();
    const schemaId = (
      await fetch(
        `${process.env.KUMIKI_TEST_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7'}/subjects/${pipeline.topics.privacy}-value/versions/latest`,
      ).then((r) => r.json() as Promise<{ id: number }>)
    ).id;
    const invalid: PrivacyRequest = requestRecord(
      { type: 'erase', identifier: { type: 'email', value: 'not-an-email' }, reason: null },
      { requestId: `kafka-${run}`, requestedAt: Date.now(), requestedBy: 'crm' },
    );
    await producer.send(pipeline.topics.privacy, [
      { key: 'garbage', value: Buffer.from('{"requestId": "x"}') },
      { key: 'email:not-an-email', value: encodeFramed(schemaId, schema('PrivacyRequest').type, invalid) },
    ]);
    await producer.disconnect();
    const letters = await waitFor(
      async () => {
        const all = await Promise.all(
          (await readAll(kafka, pipeline.topics.dlq)).map(
            async (m) => (await codec.decode<DeadLetter>(m.value!)).value,
          ),
        );
        const privacy = all.filter((l) => l.originalTopic === pipeline.topics.privacy);
        if (privacy.length < 2) throw new Error(`${privacy.length} privacy dead letters`);
        return privacy;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(letters.map((l) => [l.stage, l.code]).sort()).toEqual(
      [
        ['apply-privacy-request', 'KUMIKI_INVALID_PRIVACY_REQUEST'],
        ['decode-privacy-request', 'KUMIKI_UNDECODABLE'],
      ].sort(),
    );
    expect(letters.find((l) => l.stage === 'apply-privacy-request')?.reason).toMatch(/not a usable email/);
    // The decodable one is answered too: its status says why it failed.
    const failed = await requestDone(pipeline, `kafka-${run}`);
    expect(failed).toMatchObject({ status: 'failed', outcome: expect.stringContaining('not a usable email') });
  }));

it('the CLI files, follows, verifies and lists requests; a changed report does not verify', () =>
  withServiceLogsOnFailure(async () => {
    const env = {
      PATH: process.env.PATH ?? '',
      KUMIKI_READ_API_URL: pipeline.materializer.url,
      KUMIKI_ADMIN_TOKEN: pipeline.adminToken,
      KUMIKI_PRIVACY_KEY: testPrivacyKey,
      KUMIKI_HOME: os.tmpdir(),
    };
    const kumiki = (...args: string[]) =>
      spawnSync(process.execPath, [path.join(__dirname, '..', '..', '..', 'bin', 'kumiki.js'), 'privacy', ...args], {
        env,
        encoding: 'utf8',
      });
    const user = `cli-${run}`;
    await sendEvents(pipeline, [{ type: 'identify', messageId: `${run}-cli1`, userId: user }]);
    await waitStored([`${run}-cli1`]);

    const erased = kumiki('erase', `user_id:${user}`, '--wait', '--json');
    expect(erased.stderr).toBe('');
    expect(erased.status).toBe(0);
    const answer = JSON.parse(erased.stdout) as RequestAnswer;
    expect(answer).toMatchObject({ status: 'completed', report: { verified: true } });
    expect(await stored([`${run}-cli1`])).toBe(0);

    const verified = kumiki('verify', answer.requestId);
    expect(verified.status).toBe(0);
    expect(verified.stdout).toContain('signature valid');
    const withOtherKey = spawnSync(
      process.execPath,
      [path.join(__dirname, '..', '..', '..', 'bin', 'kumiki.js'), 'privacy', 'verify', answer.requestId],
      { env: { ...env, KUMIKI_PRIVACY_KEY: 'cd'.repeat(32) }, encoding: 'utf8' },
    );
    expect(withOtherKey.status).toBe(1);
    expect(withOtherKey.stdout).toContain('signature invalid');

    const listed = JSON.parse(kumiki('list', '--type', 'erase', '--json').stdout) as { requestId: string }[];
    expect(listed.map((r) => r.requestId)).toContain(answer.requestId);
    expect(kumiki('status', answer.requestId).stdout).toContain('verified   yes');
    expect(kumiki('erase', 'no-colon').status).toBe(2);
    const refused = kumiki('erase', 'emial:x@y.io');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('KUMIKI_INVALID_PRIVACY_REQUEST');
  }));
