import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import {
  activatorEnv,
  createActivatorTopics,
  segmentChange,
  startActivator,
  startReceiver,
  UpstreamProducer,
  type Receiver,
  type RunningActivator,
} from '../../support/activator';
import { testKafka } from '../../support/kafka';
import { startPipeline, type RunningPipeline } from '../../support/pipeline';
import { fileRequest, metricValue, requestDone, sendEvents, profileOfUser } from '../../support/privacy';
import { withServiceLogsOnFailure } from '../../support/service-process';
import { uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';

/**
 * Privacy requests reach destinations: the whole pipeline (collector, stitcher, materializer on
 * embedded ClickHouse) and the activator delivering its segment changes to a real HTTP receiver.
 * An erased and a suppressed person are never delivered again — not a change that was queued
 * for the destination before the request, not a later one — the destination that received the
 * erased person gets exactly one signed deletion notice, and an export leaves both out. Exports
 * too: the directory export that listed Ann in a delta gets a deletions file naming her hashed
 * email, the export POSTed to a URL a signed `profile.deleted` with it hashed, and no later
 * export (delta or full) holds her.
 */
jest.setTimeout(600_000);

const run = uniqueName('privacy-act');
const kafka = testKafka();
let pipeline: RunningPipeline;
let activator: RunningActivator;
let upstream: UpstreamProducer;
let hook: Receiver;
let exportHook: Receiver;
let exportRoot: string;
let groupPrefix: string;

beforeAll(async () => {
  pipeline = await startPipeline();
  const names = await createActivatorTopics(kafka);
  exportRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-privacy-exports-'));
  const env = activatorEnv(names, {
    ACTIVATOR_CHANGES_TOPIC: pipeline.topics.segments,
    ACTIVATOR_UPDATES_TOPIC: pipeline.topics.updates,
    ACTIVATOR_SUBJECTS_TOPIC: pipeline.topics.subjects,
    ACTIVATOR_PRIVACY_TOPIC: pipeline.topics.privacy,
    ACTIVATOR_RECIPIENTS_TOPIC: pipeline.topics.recipients,
    KUMIKI_ADMIN_TOKEN: pipeline.adminToken,
    KUMIKI_READ_API_URL: pipeline.materializer.url,
    ACTIVATOR_EXPORT_ROOT: exportRoot,
  });
  groupPrefix = env.ACTIVATOR_GROUP_PREFIX!;
  activator = await startActivator(env);
  // Stands in for a change the materializer made before the request (queued) or replays later.
  upstream = await UpstreamProducer.connect(kafka, { ...names, changes: pipeline.topics.segments });
  hook = await startReceiver();
  exportHook = await startReceiver();
});

afterAll(async () => {
  await activator?.stop();
  await upstream?.close();
  await hook?.close();
  await exportHook?.close();
  await pipeline?.stop();
  if (exportRoot) fs.rmSync(exportRoot, { recursive: true, force: true });
});

const profileOf = (user: string): Promise<string> => profileOfUser(pipeline, user);

interface Received {
  readonly type: string;
  readonly data: { profileId: string; identifiers: Record<string, string[]> };
}

const bodies = (): Received[] => hook.delivered().map((r) => JSON.parse(r.body) as Received);
const of = (type: string, profileId: string) =>
  bodies().filter((b) => b.type === type && b.data.profileId === profileId).length;
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

it('an erased or suppressed person reaches no destination again; the one that had them gets one deletion notice', () =>
  withServiceLogsOnFailure(async () => {
    const segment = await pipeline.api<{ id: string }>('POST', '/v1/segments', {
      name: `named ${run}`,
      rule: { trait: 'name', op: 'exists' },
    });
    const created = await activator.api<{ id: string; secret: string }>('POST', '/v1/destinations', {
      name: 'crm',
      type: 'webhook',
      url: hook.url,
      events: ['segment.entered', 'segment.exited'],
      segments: [segment.id],
      identifiers: ['email'],
      purposes: ['marketing'],
    });
    expect(created.body).toMatchObject({ id: expect.any(String) });
    const webhook = created.body;
    const exported = await activator.api<{ id: string }>('POST', '/v1/destinations', {
      name: 'ads',
      type: 'export',
      segments: [segment.id],
      identifiers: ['email'],
      purposes: ['marketing'],
      export: { format: 'csv', mode: 'delta', directory: 'ads' },
    });
    expect(exported.body).toMatchObject({ id: expect.any(String) });
    const exportTo = (id: string) => activator.api<Record<string, unknown>>('POST', `/v1/destinations/${id}/export`);
    // The first export of a delta destination is a full one: nobody is in the segment yet.
    expect((await exportTo(exported.body.id)).body).toMatchObject({ mode: 'full', rows: 0 });
    const posted = await activator.api<{ id: string; secret: string }>('POST', '/v1/destinations', {
      name: 'ads by URL',
      type: 'export',
      url: exportHook.url,
      segments: [segment.id],
      identifiers: ['email'],
      purposes: ['marketing'],
      export: { format: 'ndjson', mode: 'full' },
    });
    expect(posted.body).toMatchObject({ id: expect.any(String) });

    const people = ['ann', 'bob', 'cat'].map((name) => ({
      name,
      user: `${name}-${run}`,
      email: `${name}-${run}@example.com`,
    }));
    // A 503 (a busy shared broker) accepted nothing, and messageIds make a repeat harmless.
    await waitFor(
      () =>
        sendEvents(
          pipeline,
          people.map((p) => ({
            type: 'identify',
            messageId: `${run}-${p.name}`,
            userId: p.user,
            traits: { name: p.name, email: p.email },
            context: { consent: { categoryPreferences: { marketing: true } } },
          })),
        ),
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    const [ann, bob, cat] = await Promise.all(people.map((p) => profileOf(p.user)));
    await waitFor(
      () => {
        for (const id of [ann!, bob!, cat!]) expect(of('segment.entered', id)).toBe(1);
      },
      { timeoutMs: 90_000, intervalMs: 300 },
    );

    // Ann, Bob and Cat go out in a delta export to the directory and a full one to the URL.
    expect((await exportTo(exported.body.id)).body).toMatchObject({ mode: 'delta', rows: 3 });
    expect((await exportTo(posted.body.id)).body).toMatchObject({ mode: 'full', rows: 3 });

    // A change of Ann's waits for the destination (paused) while she is erased and Bob suppressed.
    expect((await activator.api('POST', `/v1/destinations/${webhook.id}/pause`)).status).toBe(200);
    await upstream.changes([segmentChange(ann!, { segmentId: segment.id, segmentName: 'named' })]);
    const erased = await requestDone(
      pipeline,
      await fileRequest(pipeline, 'erase', { type: 'email', value: people[0]!.email }),
    );
    expect(erased).toMatchObject({ status: 'completed', report: { verified: true } });
    const notified = erased.report?.destinations ?? [];
    expect(
      notified
        .map(({ destinationId, via, profiles }) => ({ destinationId, via, profiles }))
        .sort((a, b) => a.destinationId.localeCompare(b.destinationId)),
    ).toEqual(
      [
        { destinationId: webhook.id, via: 'webhook', profiles: 1 },
        { destinationId: exported.body.id, via: 'export', profiles: 1 },
        { destinationId: posted.body.id, via: 'export', profiles: 1 },
      ].sort((a, b) => a.destinationId.localeCompare(b.destinationId)),
    );
    expect(
      await requestDone(pipeline, await fileRequest(pipeline, 'suppress', { type: 'user_id', value: people[1]!.user })),
    ).toMatchObject({
      status: 'completed',
    });

    // The notice reaches the destination that had Ann (paused or not: it is not a segment change).
    const notice = await waitFor(
      () => {
        const found = hook.delivered().filter((r) => (JSON.parse(r.body) as Received).type === 'profile.deleted');
        expect(found).toHaveLength(1);
        return found[0]!;
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    const verified = new Webhook(webhook.secret).verify(notice.body, {
      'webhook-id': String(notice.headers['webhook-id']),
      'webhook-timestamp': String(notice.headers['webhook-timestamp']),
      'webhook-signature': String(notice.headers['webhook-signature']),
    }) as Received;
    expect(verified).toMatchObject({
      type: 'profile.deleted',
      data: { profileId: ann, identifiers: { email: [people[0]!.email] } },
    });

    // The directory export's deletions file names Ann by hashed email and profile id, nobody else.
    const deletions = path.join(exportRoot, 'ads', `${exported.body.id}-deletions-${erased.requestId}.csv`);
    await waitFor(() => expect(fs.existsSync(deletions)).toBe(true), { timeoutMs: 60_000, intervalMs: 300 });
    expect(fs.readFileSync(deletions, 'utf8').trimEnd().split('\n')).toEqual([
      'email,action,profile_id',
      `${sha256(people[0]!.email)},remove,${ann}`,
    ]);
    expect((fs.statSync(deletions).mode & 0o777).toString(8)).toBe('600');
    // The export sent to a URL gets one signed profile.deleted, the email hashed as its file had it.
    const urlNotice = await waitFor(
      () => {
        const found = exportHook.delivered().filter((r) => r.body.includes('"profile.deleted"'));
        expect(found).toHaveLength(1);
        return found[0]!;
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    expect(
      new Webhook(posted.body.secret).verify(urlNotice.body, {
        'webhook-id': String(urlNotice.headers['webhook-id']),
        'webhook-timestamp': String(urlNotice.headers['webhook-timestamp']),
        'webhook-signature': String(urlNotice.headers['webhook-signature']),
      }),
    ).toMatchObject({
      type: 'profile.deleted',
      data: { profileId: ann, identifiers: { email: [sha256(people[0]!.email)] } },
    });

    // Later changes of both (a replay, a late evaluation), and one of Cat's to know they were read.
    await upstream.changes([
      segmentChange(ann!, { segmentId: segment.id, segmentName: 'named' }),
      segmentChange(bob!, { segmentId: segment.id, segmentName: 'named' }),
      segmentChange(cat!, { segmentId: segment.id, segmentName: 'named', change: 'exited' }),
    ]);
    expect((await activator.api('POST', `/v1/destinations/${webhook.id}/resume`)).status).toBe(200);
    // Everything on the topic handled: the destination's group (epoch 0: pause and resume keep
    // it) has committed to its end, and the commit follows delivery or withholding.
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(
        async () => {
          expect(of('segment.exited', cat!)).toBe(1);
          const lag = await admin.groupLag(`${groupPrefix}.${webhook.id}.0`, [pipeline.topics.segments]);
          expect(lag.reduce((sum, p) => sum + p.lag, 0)).toBe(0);
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
    } finally {
      await admin.disconnect();
    }
    // Ann: the queued change, the erasure's own exit and the later one; Bob: the later one (a
    // change handled again after the resume counts again, hence at least).
    expect(
      await metricValue(activator.url, 'kumiki_activator_withheld_total', {
        destination: webhook.id,
        reason: 'withheld',
      }),
    ).toBeGreaterThanOrEqual(4);
    expect([of('segment.entered', ann!), of('segment.exited', ann!), of('segment.entered', bob!)]).toEqual([1, 0, 1]);
    expect(bodies().filter((b) => b.type === 'profile.deleted')).toHaveLength(1);
    expect(of('profile.deleted', bob!) + of('profile.deleted', cat!)).toBe(0);

    // Later exports: Cat only (Ann is gone from ClickHouse, Bob is withheld) — the next delta
    // (Bob and Cat changed within its window; Ann's rows are deleted), then a full one.
    const delta = await exportTo(exported.body.id);
    expect(delta.body).toMatchObject({ mode: 'delta', members: 2, withheld: 1, rows: 1 });
    expect(fs.readFileSync(String(delta.body.location), 'utf8').trimEnd().split('\n')).toEqual([
      'email,action',
      `${sha256(people[2]!.email)},add`,
    ]);
    const patched = await activator.api('PATCH', `/v1/destinations/${exported.body.id}`, {
      export: { format: 'csv', mode: 'full', directory: 'ads' },
    });
    expect(patched.status).toBe(200);
    const result = await exportTo(exported.body.id);
    expect(result.body).toMatchObject({ mode: 'full', members: 2, withheld: 1, rows: 1 });
    const [header, ...rows] = fs.readFileSync(String(result.body.location), 'utf8').trimEnd().split('\n');
    expect(header).toBe('email');
    expect(rows).toEqual([sha256(people[2]!.email)]);

    // Cat's right of access lists the destinations that were sent her: both recipient ledgers.
    const access = await requestDone(
      pipeline,
      await fileRequest(pipeline, 'export', { type: 'user_id', value: people[2]!.user }),
    );
    const document = await pipeline.api<{ destinations: unknown[] }>(
      'GET',
      `/v1/privacy/requests/${access.requestId}/export`,
    );
    const firstAt = expect.stringMatching(/^\d{4}-\d\d-\d\dT/);
    expect(document.destinations).toEqual(
      expect.arrayContaining([
        { destinationId: webhook.id, profileId: cat, firstAt, via: 'webhook' },
        { destinationId: exported.body.id, profileId: cat, firstAt, via: 'export' },
        { destinationId: posted.body.id, profileId: cat, firstAt, via: 'export' },
      ]),
    );
    expect(document.destinations).toHaveLength(3);
  }));
