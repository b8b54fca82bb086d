import { destinationRouteScopes } from '../../../services/activator/destinations/route-scopes';
import {
  activatorEnv,
  createActivatorTopics,
  followAudit,
  profileUpdate,
  publishKeyRecord,
  publishTestKey,
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
 * The destinations API under access control, against the built activator, real Kafka (its own
 * key topic and audit topic) and real receivers: every route needs its scope; personal data
 * reaches a destination only when a key holding pii:read set it up; that setup, and every
 * delivery of personal data afterwards, is on kumiki.audit, the deliveries attributed to the
 * key that set the destination up; once that key is revoked, its destinations stop and pause.
 */
const kafka = testKafka();
let names: ActivatorTopics;
let upstream: UpstreamProducer;
let activator: RunningActivator;
let audit: Awaited<ReturnType<typeof followAudit>>;
let hook: Receiver;
const keys = {} as Record<'admin' | 'marketer' | 'analyst', { id: string; secret: string }>;

beforeAll(async () => {
  names = await createActivatorTopics(kafka);
  keys.admin = await publishTestKey(kafka, names.keys, 'admin');
  keys.marketer = await publishTestKey(kafka, names.keys, 'marketer');
  keys.analyst = await publishTestKey(kafka, names.keys, 'analyst');
  upstream = await UpstreamProducer.connect(kafka, names);
  // Anonymous calls below are failed authentications; the throttle is tested with the read API.
  activator = await startActivator(activatorEnv(names, { AUTH_MAX_FAILURES: '1000' }));
  audit = await followAudit(kafka, names.audit);
  hook = await startReceiver();
});

afterAll(async () => {
  await activator?.stop();
  await upstream?.close();
  await audit?.stop();
  await hook?.close();
});

const webhook = (fields: Record<string, unknown> = {}) => ({
  name: 'crm',
  type: 'webhook',
  url: hook.url,
  events: ['segment.entered'],
  purposes: ['marketing'],
  ...fields,
});

test('every route of the destinations API needs its scope, and a call without a key none', () =>
  withServiceLogsOnFailure(async () => {
    const routes = Object.entries(destinationRouteScopes);
    expect(routes.length).toBe(14);
    for (const [route, scope] of routes) {
      const [method, pattern] = route.split(' ') as [string, string];
      const pathname = pattern.replace(':id', 'dst_unknown');
      const body = method === 'GET' || method === 'DELETE' ? undefined : {};
      // The analyst role has neither destination scope.
      const refused = await activator.api<{ code: string; message: string }>(
        method,
        pathname,
        body,
        keys.analyst.secret,
      );
      expect({ route, status: refused.status, code: refused.body.code }).toEqual({
        route,
        status: 403,
        code: 'KUMIKI_FORBIDDEN',
      });
      expect(refused.body.message).toContain(scope);
      const anonymous = await activator.api<{ code: string }>(method, pathname, body, null);
      expect({ route, status: anonymous.status, code: anonymous.body.code }).toEqual({
        route,
        status: 401,
        code: 'KUMIKI_ADMIN_UNAUTHORIZED',
      });
    }
    // A marketer holds both destination scopes: a read passes, an unknown id is then a 404.
    expect((await activator.api('GET', '/v1/destinations', undefined, keys.marketer.secret)).status).toBe(200);
    expect((await activator.api('GET', '/v1/destinations/dst_unknown', undefined, keys.marketer.secret)).status).toBe(
      404,
    );
  }));

test('identifiers or personal traits need pii:read from whoever sets the destination up; the setup is audited', () =>
  withServiceLogsOnFailure(async () => {
    const attempts = [
      webhook({ identifiers: ['email'] }),
      webhook({ traits: ['first_name'] }),
      { name: 'ads', type: 'export', segments: ['seg_x'], purposes: ['advertising'], identifiers: ['email'] },
    ];
    for (const body of attempts) {
      const refused = await activator.api<{ code: string; message: string }>(
        'POST',
        '/v1/destinations',
        body,
        keys.marketer.secret,
      );
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe('KUMIKI_FORBIDDEN');
      expect(refused.body.message).toContain('pii:read');
    }
    // Without personal data a marketer may, but may not widen it afterwards.
    const plain = await activator.api<{ id: string }>('POST', '/v1/destinations', webhook(), keys.marketer.secret);
    expect(plain.status).toBe(201);
    const widened = await activator.api<{ code: string; message: string }>(
      'PATCH',
      `/v1/destinations/${plain.body.id}`,
      { identifiers: ['phone'] },
      keys.marketer.secret,
    );
    expect(widened.status).toBe(403);
    expect(widened.body.message).toContain('pii:read');
    expect(
      (await activator.api<{ identifiers: string[] }>('GET', `/v1/destinations/${plain.body.id}`)).body.identifiers,
    ).toEqual([]);

    const granted = await activator.api<{ id: string }>(
      'POST',
      '/v1/destinations',
      webhook({ identifiers: ['email'], traits: ['first_name'] }),
      keys.admin.secret,
    );
    expect(granted.status).toBe(201);

    await waitFor(
      () => {
        const setUp = audit.records.filter((r) => r.action === 'POST /v1/destinations');
        expect(setUp).toContainEqual(
          expect.objectContaining({
            service: 'activator',
            keyId: keys.admin.id,
            role: 'admin',
            scope: 'destination:write',
            outcome: 'allowed',
            status: 201,
            resource: `destination:${granted.body.id} identifier:email,trait:first_name`,
          }),
        );
        expect(setUp.filter((r) => r.keyId === keys.marketer.id && r.code === 'KUMIKI_FORBIDDEN')).toHaveLength(3);
        expect(
          audit.records.filter(
            (r) => r.action === 'PATCH /v1/destinations/:id' && r.keyId === keys.marketer.id && r.status === 403,
          ),
        ).toEqual([expect.objectContaining({ resource: `destination:${plain.body.id} identifier:phone` })]);
      },
      { timeoutMs: 30_000 },
    );
    for (const id of [plain.body.id, granted.body.id])
      expect((await activator.api('DELETE', `/v1/destinations/${id}`)).status).toBe(204);
  }));

test('deliveries of personal data are audited before they leave, attributed to the key that set the destination up', () =>
  withServiceLogsOnFailure(async () => {
    const personal = await activator.api<{ id: string }>(
      'POST',
      '/v1/destinations',
      webhook({ identifiers: ['email'] }),
      keys.admin.secret,
    );
    const plain = await activator.api<{ id: string }>('POST', '/v1/destinations', webhook(), keys.marketer.secret);
    expect([personal.status, plain.status]).toEqual([201, 201]);
    const people = ['p-acc-1', 'p-acc-2', 'p-acc-3'].map((p) => `${p}-${Date.now().toString(36)}`);
    await upstream.profiles(people.map((p) => profileUpdate(p)));
    await upstream.changes(people.map((p) => segmentChange(p)));
    // Each person reaches both destinations.
    await waitFor(
      () => expect(hook.delivered().filter((r) => people.some((p) => r.body.includes(p)))).toHaveLength(6),
      {
        timeoutMs: 30_000,
      },
    );

    // Each delivery's record was acknowledged before its request left, so all are there now.
    const deliveries = (id: string) =>
      audit.records.filter(
        (r) => r.service === 'activator' && r.resource === `destination:${id}` && r.action.startsWith('DELIVER'),
      );
    // Attempts within a few milliseconds share one record listing their profiles.
    const audited = () => deliveries(personal.body.id).flatMap((r) => r.profileIds);
    await waitFor(() => expect(audited()).toHaveLength(3), { timeoutMs: 30_000 });
    expect(audited().sort()).toEqual([...people].sort());
    for (const record of deliveries(personal.body.id)) expect(record.rows).toBe(record.profileIds.length);
    for (const record of deliveries(personal.body.id))
      expect(record).toMatchObject({
        keyId: keys.admin.id,
        role: 'admin',
        action: 'DELIVER segment.entered',
        scope: 'pii:read',
        piiReturned: true,
        source: new URL(hook.url).host,
      });
    // Profile ids only, no personal data: nothing to attribute.
    expect(deliveries(plain.body.id)).toEqual([]);
    for (const id of [personal.body.id, plain.body.id]) await activator.api('DELETE', `/v1/destinations/${id}`);
  }));

test('once the key that granted pii:read is revoked, nothing personal is sent and the destination is paused', () =>
  withServiceLogsOnFailure(async () => {
    const granting = await publishTestKey(kafka, names.keys, 'admin');
    // A new key reaches the activator with its next fetch of the key topic, not at once.
    await waitFor(async () =>
      expect((await activator.api('GET', '/v1/destinations', undefined, granting.secret)).status).toBe(200),
    );
    const own = await startReceiver();
    try {
      const made = await activator.api<{ id: string }>(
        'POST',
        '/v1/destinations',
        webhook({ url: own.url, identifiers: ['email'] }),
        granting.secret,
      );
      expect(made.status).toBe(201);
      const tag = Date.now().toString(36);
      const [before, after] = [`p-grant-1-${tag}`, `p-grant-2-${tag}`];
      await upstream.profiles([profileUpdate(before), profileUpdate(after)]);
      await upstream.changes([segmentChange(before)]);
      await waitFor(() => expect(own.delivered()).toHaveLength(1), { timeoutMs: 30_000 });

      await publishKeyRecord(kafka, names.keys, { ...granting.record, revokedAt: Date.now() });
      // The activator follows the key topic: once it refuses the key, it knows of the revocation.
      await waitFor(
        async () =>
          expect((await activator.api('GET', '/v1/destinations', undefined, granting.secret)).status).toBe(401),
        { timeoutMs: 30_000 },
      );
      await upstream.changes([segmentChange(after)]);
      await waitFor(
        async () => {
          const { body } = await activator.api<{ status: string; pausedReason: string }>(
            'GET',
            `/v1/destinations/${made.body.id}`,
          );
          expect(body.status).toBe('paused');
          expect(body.pausedReason).toContain(`(${granting.id}) that granted pii:read was revoked at`);
        },
        { timeoutMs: 30_000 },
      );
      expect(own.requests.map((r) => r.body).filter((b) => b.includes(after))).toEqual([]);
      expect(own.delivered()).toHaveLength(1);
      await activator.api('DELETE', `/v1/destinations/${made.body.id}`);
    } finally {
      await own.close();
    }
  }));

test("a receiver's answer in a dead letter, which may echo personal data, is shown only to keys with pii:read", () =>
  withServiceLogsOnFailure(async () => {
    const echo = '{"error":"rejected","email":"ann@example.com"}';
    const refusing = await startReceiver(() => ({ status: 400, body: echo }));
    try {
      const made = await activator.api<{ id: string }>(
        'POST',
        '/v1/destinations',
        webhook({ url: refusing.url }),
        keys.admin.secret,
      );
      const person = `p-acc-dlq-${Date.now().toString(36)}`;
      await upstream.profiles([profileUpdate(person)]);
      await upstream.changes([segmentChange(person)]);
      type Letters = { deadLetters?: { responseStatus: number; responseBody: string | null }[] };
      const letters = async (secret: string) =>
        (await activator.api<Letters>('GET', `/v1/destinations/${made.body.id}/dead-letters`, undefined, secret)).body
          .deadLetters;
      await waitFor(
        async () =>
          expect(await letters(keys.admin.secret)).toEqual([
            expect.objectContaining({ responseStatus: 400, responseBody: echo }),
          ]),
        { timeoutMs: 30_000 },
      );
      expect(await letters(keys.marketer.secret)).toEqual([
        expect.objectContaining({ responseStatus: 400, responseBody: null }),
      ]);
    } finally {
      await refusing.close();
    }
  }));
