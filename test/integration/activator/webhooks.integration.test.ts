import { Webhook } from 'standardwebhooks';
import type { DestinationDeadLetter } from '../../../schemas';
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
import { readMessages, testKafka } from '../../support/kafka';
import { withServiceLogsOnFailure } from '../../support/service-process';
import { waitFor } from '../../support/wait-for';

/**
 * The activator against real receivers on this machine, real Kafka and the registry: what a
 * receiver gets, signed as Standard Webhooks says (checked with the `standardwebhooks` package,
 * not our code), retried, dead-lettered and replayed, in order per profile, never without consent,
 * and never held up by another destination.
 */
const kafka = testKafka();
let names: ActivatorTopics;
let upstream: UpstreamProducer;
let activator: RunningActivator;
const receivers: Receiver[] = [];

beforeAll(async () => {
  names = await createActivatorTopics(kafka);
  upstream = await UpstreamProducer.connect(kafka, names);
  activator = await startActivator(activatorEnv(names));
});

afterAll(async () => {
  await activator?.stop();
  await upstream?.close();
  await Promise.all(receivers.map((r) => r.close()));
});

const created: string[] = [];

// Each test's destinations go with it, so later tests' changes reach only their own receivers.
afterEach(async () => {
  for (const id of created.splice(0)) await activator.api('DELETE', `/v1/destinations/${id}`);
});

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const started = await startReceiver(...args);
  receivers.push(started);
  return started;
}

interface Created {
  readonly id: string;
  readonly secret: string;
}

async function createWebhook(url: string, fields: Record<string, unknown> = {}): Promise<Created> {
  const { status, body } = await activator.api<Created & { code?: string; message?: string }>(
    'POST',
    '/v1/destinations',
    {
      name: 'test hook',
      type: 'webhook',
      url,
      events: ['segment.entered', 'segment.exited'],
      purposes: ['marketing'],
      identifiers: ['email'],
      traits: ['first_name'],
      ...fields,
    },
  );
  if (status !== 201) throw new Error(`create answered ${status}: ${JSON.stringify(body)}`);
  created.push(body.id);
  return body;
}

function payloadOf(request: { body: string }): { type: string; data: Record<string, unknown> } {
  return JSON.parse(request.body) as { type: string; data: Record<string, unknown> };
}

const tag = (): string => Math.random().toString(36).slice(2, 8);

test('a receiver verifies every message with an independent Standard Webhooks implementation', () =>
  withServiceLogsOnFailure(async () => {
    const hook = await receiver();
    const made = await createWebhook(hook.url);
    expect(made.secret).toMatch(/^whsec_/);
    const p = `p-sig-${tag()}`;
    await upstream.profiles([
      profileUpdate(p, {
        identifiers: [
          { type: 'email', value: `${p}@example.com` },
          { type: 'phone', value: '+4915112345678' },
        ],
        traits: JSON.stringify({ first_name: 'Ann', birthday: '1990-05-01' }),
      }),
    ]);
    await upstream.changes([segmentChange(p), segmentChange(p, { change: 'exited' })]);
    await waitFor(() => expect(hook.delivered()).toHaveLength(2), { timeoutMs: 30_000 });

    const verifier = new Webhook(made.secret);
    const verified = hook
      .delivered()
      .map((request) => verifier.verify(request.body, request.headers as Record<string, string>));
    expect(verified).toEqual([
      {
        type: 'segment.entered',
        timestamp: expect.any(String),
        data: {
          segment: { id: 'seg_test', name: 'Test segment' },
          profileId: p,
          // Only the identifier types and traits the destination asked for.
          identifiers: { email: [`${p}@example.com`] },
          traits: { first_name: 'Ann' },
        },
      },
      expect.objectContaining({ type: 'segment.exited' }),
    ]);
    // A different secret does not verify.
    expect(() =>
      new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw').verify(
        hook.delivered()[0]!.body,
        hook.delivered()[0]!.headers as Record<string, string>,
      ),
    ).toThrow();
  }));

test('after a secret rotation both the new and the previous secret verify', () =>
  withServiceLogsOnFailure(async () => {
    const hook = await receiver();
    const made = await createWebhook(hook.url);
    const rotated = await activator.api<{ secret: string; secrets: unknown[] }>(
      'POST',
      `/v1/destinations/${made.id}/rotate-secret`,
    );
    expect(rotated.status).toBe(200);
    expect(rotated.body.secrets).toHaveLength(2);
    const p = `p-rot-${tag()}`;
    await upstream.profiles([profileUpdate(p)]);
    await upstream.changes([segmentChange(p)]);
    await waitFor(() => expect(hook.delivered()).toHaveLength(1), { timeoutMs: 30_000 });
    const [request] = hook.delivered();
    const headers = request!.headers as Record<string, string>;
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(new Webhook(rotated.body.secret).verify(request!.body, headers)).toMatchObject({ type: 'segment.entered' });
    expect(new Webhook(made.secret).verify(request!.body, headers)).toMatchObject({ type: 'segment.entered' });
  }));

test('a receiver failing the first three attempts gets the change on the fourth, with the same webhook-id', () =>
  withServiceLogsOnFailure(async () => {
    const hook = await receiver((_request, index) => (index < 3 ? { status: 503 } : { status: 200 }));
    const made = await createWebhook(hook.url);
    const p = `p-retry-${tag()}`;
    await upstream.profiles([profileUpdate(p)]);
    await upstream.changes([segmentChange(p)]);
    await waitFor(() => expect(hook.delivered()).toHaveLength(1), { timeoutMs: 30_000 });
    expect(hook.requests).toHaveLength(4);
    const ids = new Set(hook.requests.map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(1);
    // Each attempt is signed anew with its own timestamp, and verifies.
    expect(
      new Webhook(made.secret).verify(hook.requests[3]!.body, hook.requests[3]!.headers as Record<string, string>),
    ).toBeTruthy();
    // The delivery log shows the four attempts, never a body.
    await waitFor(
      async () => {
        const { body } = await activator.api<{ deliveries: Record<string, unknown>[] }>(
          'GET',
          `/v1/destinations/${made.id}/deliveries`,
        );
        expect(body.deliveries.map((d) => [d.attempt, d.status, d.outcome])).toEqual([
          [4, 200, 'delivered'],
          [3, 503, 'failed'],
          [2, 503, 'failed'],
          [1, 503, 'failed'],
        ]);
        expect(Object.keys(body.deliveries[0]!).sort()).toEqual(
          ['at', 'attempt', 'error', 'eventType', 'latencyMs', 'outcome', 'profileId', 'status', 'webhookId'].sort(),
        );
      },
      { timeoutMs: 15_000 },
    );
  }));

test('Retry-After on a 429 is honoured', () =>
  withServiceLogsOnFailure(async () => {
    const hook = await receiver((_request, index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '3' } } : { status: 200 },
    );
    await createWebhook(hook.url);
    const p = `p-429-${tag()}`;
    await upstream.profiles([profileUpdate(p)]);
    await upstream.changes([segmentChange(p)]);
    await waitFor(() => expect(hook.delivered()).toHaveLength(1), { timeoutMs: 30_000 });
    // The backoff alone would have tried again within 1 s (ACTIVATOR_RETRY_MAX_MS here).
    expect(hook.requests[1]!.at - hook.requests[0]!.at).toBeGreaterThanOrEqual(2_900);
  }));

test('a 400 goes to the dead-letter topic with the answer, and a replay delivers it with the same webhook-id', () =>
  withServiceLogsOnFailure(async () => {
    let refuse = true;
    const hook = await receiver(() =>
      refuse ? { status: 400, body: '{"error":"unknown field birthday"}' } : { status: 200 },
    );
    const made = await createWebhook(hook.url);
    const p = `p-dlq-${tag()}`;
    await upstream.profiles([profileUpdate(p)]);
    await upstream.changes([segmentChange(p), segmentChange(p, { change: 'exited' })]);
    const letters = await readMessages(kafka, names.dlq, 2, 30_000);
    const decoded = await Promise.all(
      letters.map(async (m) => (await upstream.avro.decode<DestinationDeadLetter>(m.value!)).value),
    );
    const mine = decoded.filter((d) => d.destinationId === made.id);
    expect(mine.map((d) => [d.code, d.responseStatus, d.responseBody, d.attempts, d.eventType])).toEqual([
      ['KUMIKI_DESTINATION_REJECTED', 400, '{"error":"unknown field birthday"}', 1, 'segment.entered'],
      ['KUMIKI_DESTINATION_REJECTED', 400, '{"error":"unknown field birthday"}', 1, 'segment.exited'],
    ]);
    expect(hook.requests).toHaveLength(2); // a permanent refusal is not retried

    const listed = await activator.api<{ deadLetters: { webhookId: string }[] }>(
      'GET',
      `/v1/destinations/${made.id}/dead-letters`,
    );
    expect(listed.body.deadLetters.map((d) => d.webhookId)).toEqual(hook.requests.map((r) => r.headers['webhook-id']));

    refuse = false;
    const replay = await activator.api<Record<string, unknown>>(
      'POST',
      `/v1/destinations/${made.id}/dead-letters/replay`,
    );
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ replayed: 2, delivered: 2, deadLettered: 0, remaining: false });
    expect(hook.delivered().map((r) => r.headers['webhook-id'])).toEqual(
      hook.requests.slice(0, 2).map((r) => r.headers['webhook-id']),
    );
    expect(hook.delivered().map((r) => payloadOf(r).type)).toEqual(['segment.entered', 'segment.exited']);
    // The cursor moved past them: a second replay has nothing to send.
    const again = await activator.api<Record<string, unknown>>(
      'POST',
      `/v1/destinations/${made.id}/dead-letters/replay`,
    );
    expect(again.body).toMatchObject({ replayed: 0 });
  }));

test('a hanging receiver does not delay a healthy destination', () =>
  withServiceLogsOnFailure(async () => {
    const hanging = await receiver(() => ({ status: 200, hang: true }));
    const healthy = await receiver();
    await createWebhook(hanging.url);
    await createWebhook(healthy.url);
    const people = Array.from({ length: 20 }, (_, i) => `p-hang-${tag()}-${i}`);
    await upstream.profiles(people.map((p) => profileUpdate(p)));
    await upstream.changes(people.map((p) => segmentChange(p)));
    // Every change reaches the healthy receiver while the other, tried (its destination's group
    // may join later on a busy machine), has answered nothing at all.
    await waitFor(
      () => {
        expect(healthy.delivered()).toHaveLength(20);
        expect(hanging.requests.length).toBeGreaterThan(0);
      },
      { timeoutMs: 30_000 },
    );
    expect(hanging.delivered()).toHaveLength(0);
  }));

test('changes of one profile arrive in order while profiles go at once, and retries keep the order', () =>
  withServiceLogsOnFailure(async () => {
    // Every fifth request fails once: retries must not let a later change overtake it.
    const hook = await receiver((_request, index) => (index % 5 === 2 ? { status: 500 } : { status: 200 }));
    await createWebhook(hook.url, { events: ['segment.entered', 'segment.exited'] });
    const people = Array.from({ length: 10 }, (_, i) => `p-order-${tag()}-${i}`);
    await upstream.profiles(people.map((p) => profileUpdate(p)));
    const changes = [];
    for (let round = 0; round < 10; round++)
      for (const p of people)
        changes.push(
          segmentChange(p, { change: round % 2 === 0 ? 'entered' : 'exited', segmentName: `round ${round}` }),
        );
    await upstream.changes(changes);
    await waitFor(() => expect(hook.delivered()).toHaveLength(100), { timeoutMs: 60_000 });
    for (const p of people) {
      const rounds = hook
        .delivered()
        .map((r) => payloadOf(r).data as { profileId: string; segment: { name: string } })
        .filter((d) => d.profileId === p)
        .map((d) => d.segment.name);
      expect(rounds).toEqual(Array.from({ length: 10 }, (_, i) => `round ${i}`));
    }
  }));

test('a profile without every purpose of the destination is never delivered, and logged withheld', () =>
  withServiceLogsOnFailure(async () => {
    const hook = await receiver();
    const made = await createWebhook(hook.url, { purposes: ['marketing', 'email'] });
    const granted = `p-yes-${tag()}`;
    const partial = `p-partial-${tag()}`;
    const refused = `p-no-${tag()}`;
    const unknown = `p-unknown-${tag()}`;
    const withdrawn = `p-withdrawn-${tag()}`;
    await upstream.profiles([
      profileUpdate(granted, { consent: { marketing: true, email: true } }),
      profileUpdate(partial, { consent: { marketing: true } }),
      profileUpdate(refused, { consent: { marketing: false, email: false } }),
      profileUpdate(withdrawn, { consent: { marketing: true, email: true } }),
      // `unknown` has no profile update at all.
    ]);
    // Consent withdrawn before the change is sent: the latest update counts.
    await upstream.profiles([profileUpdate(withdrawn, { consent: { marketing: true, email: false } })]);
    await upstream.changes([granted, partial, refused, unknown, withdrawn].map((p) => segmentChange(p)));
    // A change sent after all the others, to the same partition as none in particular: once it
    // is delivered, the ones before it on its partition are finished.
    const last = `p-last-${tag()}`;
    await upstream.profiles([profileUpdate(last, { consent: { marketing: true, email: true } })]);
    await upstream.changes([segmentChange(last)]);
    await waitFor(
      () =>
        expect(
          hook
            .delivered()
            .map((r) => (payloadOf(r).data as { profileId: string }).profileId)
            .sort(),
        ).toEqual([granted, last].sort()),
      {
        timeoutMs: 30_000,
      },
    );
    await waitFor(
      async () => {
        const metrics = await (await fetch(`${activator.url}/metrics`)).text();
        const withheld = [...metrics.matchAll(/kumiki_activator_withheld_total\{[^}]*reason="(\w+)"[^}]*\} (\d+)/g)];
        const total = (reason: string): number =>
          withheld.filter((m) => m[1] === reason).reduce((n, m) => n + Number(m[2]), 0);
        expect(total('no_consent')).toBeGreaterThanOrEqual(3);
        expect(total('unknown_profile')).toBeGreaterThanOrEqual(1);
      },
      { timeoutMs: 15_000 },
    );
    expect(hook.requests).toHaveLength(2);
    // Each withheld change is one record of the delivery log, with its reason and no request.
    await waitFor(
      async () => {
        const { body } = await activator.api<{ deliveries: Record<string, unknown>[] }>(
          'GET',
          `/v1/destinations/${made.id}/deliveries`,
        );
        const withheld = body.deliveries
          .filter((d) => d.outcome === 'withheld')
          .map((d) => [d.profileId, d.attempt, d.status, d.error])
          .sort();
        expect(withheld).toEqual(
          [
            [partial, 1, null, 'no_consent: not granted: email'],
            [refused, 1, null, 'no_consent: not granted: marketing, email'],
            [unknown, 1, null, 'unknown_profile: no profile update known'],
            [withdrawn, 1, null, 'no_consent: not granted: email'],
          ].sort(),
        );
        expect(body.deliveries.filter((d) => d.outcome === 'delivered')).toHaveLength(2);
      },
      { timeoutMs: 15_000 },
    );
  }));

test('creation refuses bad definitions with the field at fault', () =>
  withServiceLogsOnFailure(async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ url: 'not a url' }, 'url'],
      [{ url: 'ftp://example.com/x' }, 'url'],
      [{ events: ['segment.moved'] }, 'events[0]'],
      [{ purposes: ['telepathy'] }, 'purposes'],
      [{ purposes: [] }, 'purposes'],
      [{ rateLimit: -1 }, 'rateLimit'],
    ];
    for (const [fields, field] of cases) {
      const { status, body } = await activator.api<{ code: string; field?: string }>('POST', '/v1/destinations', {
        name: 'bad',
        type: 'webhook',
        url: 'http://127.0.0.1:9/hook',
        events: ['segment.entered'],
        purposes: ['marketing'],
        ...fields,
      });
      expect([fields, status, body.code, body.field]).toEqual([fields, 400, 'KUMIKI_INVALID_DESTINATION', field]);
    }
    const unauthorised = await fetch(`${activator.url}/v1/destinations`);
    expect(unauthorised.status).toBe(401);
    expect(await activator.api('GET', '/v1/destinations/dst_none')).toMatchObject({
      status: 404,
      body: { code: 'KUMIKI_DESTINATION_NOT_FOUND' },
    });
  }));
