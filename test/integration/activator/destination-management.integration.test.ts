import { Webhook } from 'standardwebhooks';
import {
  activatorEnv,
  createActivatorTopics,
  profileUpdate,
  segmentChange,
  startActivator,
  startReceiver,
  UpstreamProducer,
  type ActivatorTopics,
  type Receiver,
  type RunningActivator,
} from '../../support/activator';
import { testKafka } from '../../support/kafka';
import { withServiceLogsOnFailure } from '../../support/service-process';
import { waitFor } from '../../support/wait-for';

/**
 * Managing destinations through the API of a running activator: pause and resume lose nothing,
 * a destination failing for long pauses itself, a replay delivers again from a time, profile
 * updates are delivered as profile.updated, the test message verifies, and destinations survive
 * a restart of the activator (they live on their topic).
 */
jest.setTimeout(180_000);
const kafka = testKafka();
let names: ActivatorTopics;
let upstream: UpstreamProducer;
let env: Record<string, string>;
let activator: RunningActivator;
const receivers: Receiver[] = [];

beforeAll(async () => {
  names = await createActivatorTopics(kafka);
  upstream = await UpstreamProducer.connect(kafka, names);
  env = activatorEnv(names, {
    ACTIVATOR_AUTO_PAUSE_AFTER_MS: '3000',
    ACTIVATOR_MAX_ATTEMPTS: '1000',
    LOG_LEVEL: 'info',
  });
  activator = await startActivator(env);
});

afterAll(async () => {
  await activator?.stop();
  await upstream?.close();
  await Promise.all(receivers.map((r) => r.close()));
});

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const started = await startReceiver(...args);
  receivers.push(started);
  return started;
}

async function create(fields: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const { status, body } = await activator.api<{ id: string; secret: string }>('POST', '/v1/destinations', {
    name: 'managed',
    type: 'webhook',
    events: ['segment.entered'],
    purposes: ['marketing'],
    ...fields,
  });
  if (status !== 201) throw new Error(`create answered ${status}: ${JSON.stringify(body)}`);
  return body;
}

const profileIdsOf = (r: Receiver): string[] =>
  r.delivered().map((q) => (JSON.parse(q.body) as { data: { profileId: string } }).data.profileId);

test('a paused destination receives nothing, and after resume every change that waited', () =>
  withServiceLogsOnFailure(async () => {
    const hook = await receiver();
    const { id } = await create({ url: hook.url });
    const paused = await activator.api<{ status: string }>('POST', `/v1/destinations/${id}/pause`);
    expect(paused.body.status).toBe('paused');
    const people = ['pa-1', 'pa-2', 'pa-3'].map((p) => `${p}-${id}`);
    await upstream.profiles(people.map((p) => profileUpdate(p)));
    await upstream.changes(people.map((p) => segmentChange(p)));
    // Another destination, created after them, gets nothing of them: a new one starts at "now".
    const control = await receiver();
    await create({ url: control.url });
    const probe = `probe-${id}`;
    await upstream.profiles([profileUpdate(probe)]);
    await upstream.changes([segmentChange(probe)]);
    await waitFor(() => expect(profileIdsOf(control)).toEqual([probe]), { timeoutMs: 30_000 });
    expect(hook.requests).toHaveLength(0);

    const resumed = await activator.api<{ status: string }>('POST', `/v1/destinations/${id}/resume`);
    expect(resumed.body.status).toBe('active');
    // Resuming starts the destination's consumer again; on a loaded machine its group takes a
    // while to settle.
    await waitFor(() => expect(profileIdsOf(hook).sort()).toEqual([...people, probe].sort()), { timeoutMs: 90_000 });
  }));

test('a destination failing for longer than ACTIVATOR_AUTO_PAUSE_AFTER_MS is paused, and resumes by the API', () =>
  withServiceLogsOnFailure(async () => {
    let up = false;
    const hook = await receiver(() => (up ? { status: 200 } : { status: 500 }));
    const { id } = await create({ url: hook.url });
    const p = `p-auto-${id}`;
    await upstream.profiles([profileUpdate(p)]);
    await upstream.changes([segmentChange(p)]);
    await waitFor(
      async () => {
        const { body } = await activator.api<{ status: string; pausedReason: string }>('GET', `/v1/destinations/${id}`);
        expect(body.status).toBe('paused');
        expect(body.pausedReason).toMatch(/^paused automatically: failing since .* HTTP 500/);
      },
      { timeoutMs: 30_000 },
    );
    const attemptsWhenPaused = hook.requests.length;
    expect(attemptsWhenPaused).toBeGreaterThan(1);
    up = true;
    await activator.api('POST', `/v1/destinations/${id}/resume`);
    await waitFor(() => expect(profileIdsOf(hook)).toEqual([p]), { timeoutMs: 30_000 });
  }));

test('a replay from a time delivers again, with the same webhook-ids, every change since then', () =>
  withServiceLogsOnFailure(async () => {
    const hook = await receiver();
    const { id } = await create({ url: hook.url });
    const people = ['rp-1', 'rp-2'].map((p) => `${p}-${id}`);
    await upstream.profiles(people.map((p) => profileUpdate(p)));
    const from = new Date(Date.now() - 1_000).toISOString();
    await upstream.changes(people.map((p) => segmentChange(p)));
    await waitFor(() => expect(hook.delivered()).toHaveLength(2), { timeoutMs: 30_000 });
    const firstIds = hook.delivered().map((r) => r.headers['webhook-id']);

    const replay = await activator.api<{ replayFrom: string }>('POST', `/v1/destinations/${id}/replay`, { from });
    expect(replay.status).toBe(202);
    await waitFor(() => expect(hook.delivered()).toHaveLength(4), { timeoutMs: 30_000 });
    expect(
      hook
        .delivered()
        .slice(2)
        .map((r) => r.headers['webhook-id'])
        .sort(),
    ).toEqual([...firstIds].sort());
  }));

test('profile updates are delivered as profile.updated with what the destination may see', () =>
  withServiceLogsOnFailure(async () => {
    const hook = await receiver();
    const { id, secret } = await create({
      url: hook.url,
      events: ['profile.updated'],
      identifiers: ['email'],
      traits: ['plan'],
    });
    const p = `p-upd-${id}`;
    await upstream.profiles([
      profileUpdate(p, {
        traits: JSON.stringify({ plan: 'pro', address: 'secret street 1' }),
        identifiers: [
          { type: 'email', value: `${p}@example.com` },
          { type: 'device_id', value: 'dev-1' },
        ],
        segments: ['seg_a'],
      }),
    ]);
    await waitFor(() => expect(hook.delivered()).toHaveLength(1), { timeoutMs: 30_000 });
    const request = hook.delivered()[0]!;
    expect(new Webhook(secret).verify(request.body, request.headers as Record<string, string>)).toEqual({
      type: 'profile.updated',
      timestamp: expect.any(String),
      data: {
        profileId: p,
        identifiers: { email: [`${p}@example.com`] },
        traits: { plan: 'pro' },
        segments: ['seg_a'],
        rfm: null,
      },
    });
  }));

test('the test message is signed; a PATCH applies to the next delivery; destinations survive a restart', () =>
  withServiceLogsOnFailure(async () => {
    const hook = await receiver();
    const { id, secret } = await create({ url: hook.url });
    const tested = await activator.api<{ delivered: boolean; status: number }>('POST', `/v1/destinations/${id}/test`);
    expect(tested.body).toMatchObject({ delivered: true, status: 200 });
    expect(
      new Webhook(secret).verify(hook.requests[0]!.body, hook.requests[0]!.headers as Record<string, string>),
    ).toMatchObject({
      type: 'kumiki.test',
    });

    const patched = await activator.api<{ traits: string[] }>('PATCH', `/v1/destinations/${id}`, {
      traits: ['first_name'],
    });
    expect(patched.body.traits).toEqual(['first_name']);

    await activator.stop();
    // A requested stop (SIGTERM) ends cleanly: workers commit what they delivered, exit code 0.
    expect(await activator.process.exit).toEqual({ code: 0, signal: null });
    expect(activator.process.output()).toMatch(/"msg":"service stopped"/);
    activator = await startActivator(env);
    const { body } = await activator.api<{ id: string; traits: string[]; secrets: unknown[] }>(
      'GET',
      `/v1/destinations/${id}`,
    );
    expect(body).toMatchObject({ id, traits: ['first_name'] });
    const p = `p-restart-${id}`;
    await upstream.profiles([profileUpdate(p, { traits: JSON.stringify({ first_name: 'Ann' }) })]);
    await upstream.changes([segmentChange(p)]);
    await waitFor(() => expect(hook.delivered()).toHaveLength(2), { timeoutMs: 30_000 });
    // Signed with the secret made before the restart (unsealed with the same secrets key).
    const delivered = new Webhook(secret).verify(
      hook.requests[1]!.body,
      hook.requests[1]!.headers as Record<string, string>,
    );
    expect(delivered).toMatchObject({ data: { profileId: p, traits: { first_name: 'Ann' } } });
  }));
