import { Analytics } from '@segment/analytics-node';
import type { Event } from '../../../schemas';
import { AvroCodec, SchemaRegistryClient } from '../../../services/common/registry';
import { startCollector, type RunningCollector } from '../../support/collector';
import { readMessages, testKafka } from '../../support/kafka';
import { testStack, uniqueName } from '../../support/stack-env';

/** Segment's own Node SDK, pointed at the collector by changing only its host. */
const codec = new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl }));
let collector: RunningCollector;

beforeAll(async () => {
  collector = await startCollector();
});

afterAll(async () => {
  await collector?.stop();
});

it('@segment/analytics-node delivers identify, track and page intact', async () => {
  const analytics = new Analytics({
    writeKey: collector.writeKey,
    host: collector.url,
    flushAt: 10,
    flushInterval: 100,
    maxRetries: 0,
  });
  const failures: unknown[] = [];
  analytics.on('error', (error) => failures.push(error));
  const run = uniqueName('sdk');
  const when = new Date('2024-06-01T08:00:00.000Z');
  analytics.identify({
    userId: `${run}-user`,
    traits: { email: 'grace@example.com', plan: 'pro' },
    messageId: `${run}-identify`,
    timestamp: when,
  });
  analytics.track({
    userId: `${run}-user`,
    event: 'Order Completed',
    properties: { order_id: 'o-9', total: 99.9, currency: 'EUR', products: [{ sku: 'A1', quantity: 2 }] },
    context: { consent: { categoryPreferences: { Marketing: true } } },
    messageId: `${run}-track`,
    timestamp: when,
  });
  analytics.page({
    anonymousId: `${run}-anon`,
    name: 'Checkout',
    properties: { path: '/checkout' },
    messageId: `${run}-page`,
    timestamp: when,
  });
  await analytics.closeAndFlush({ timeout: 20_000 });
  expect(failures).toEqual([]);

  const messages = await readMessages(testKafka(), collector.eventsTopic, 3);
  const events = new Map<string, { key: string | undefined; event: Event }>();
  for (const m of messages) {
    const event = (await codec.decode<Event>(m.value!)).value;
    events.set(event.messageId, { key: m.key?.toString(), event });
  }
  expect([...events.keys()].sort()).toEqual([`${run}-identify`, `${run}-page`, `${run}-track`]);

  const identify = events.get(`${run}-identify`)!;
  expect(identify.key).toBe(`${run}-user`);
  expect(identify.event).toMatchObject({
    type: 'identify',
    userId: `${run}-user`,
    anonymousId: null,
    channel: 'server',
    source: 'default',
  });
  expect(JSON.parse(identify.event.traits)).toEqual({ email: 'grace@example.com', plan: 'pro' });

  const track = events.get(`${run}-track`)!.event;
  expect(track).toMatchObject({
    type: 'track',
    event: 'Order Completed',
    userId: `${run}-user`,
    consent: { Marketing: true },
  });
  expect(JSON.parse(track.properties)).toEqual({
    order_id: 'o-9',
    total: 99.9,
    currency: 'EUR',
    products: [{ sku: 'A1', quantity: 2 }],
  });
  const context = JSON.parse(track.context) as { library: { name: string } };
  expect(context.library.name).toBe('@segment/analytics-node');
  // The SDK stamps sentAt on the batch; the event time is corrected by the skew it measured.
  expect(track.sentAt).not.toBeNull();
  expect(track.timestamp).toBe(track.receivedAt - (track.sentAt! - when.getTime()));

  const page = events.get(`${run}-page`)!;
  expect(page.key).toBe(`${run}-anon`);
  expect(page.event).toMatchObject({ type: 'page', name: 'Checkout', anonymousId: `${run}-anon`, userId: null });
  expect(JSON.parse(page.event.properties)).toEqual({ path: '/checkout' });
});
