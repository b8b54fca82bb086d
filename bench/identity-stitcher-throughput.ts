/**
 * Stitched events/s in transactional mode vs a same-client consume → produce pass-through,
 * in the same run, against the Kafka and registry of the environment.
 *
 *   npm run build && node dist/bench/identity-stitcher-throughput.js [events=100000]
 *   (KAFKA_BROKERS, SCHEMA_REGISTRY_URL as for the services)
 *
 * Both read the same pre-produced Avro events (6 partitions) with the same client settings.
 * The pass-through copies each batch's bytes to an output topic (idempotent producer,
 * acks=all) and commits the offsets; the stitcher decodes, resolves identities, encodes
 * three outputs and commits all of it with the offsets in one transaction per batch.
 * Rates are measured from the first processed record to the last.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { Event } from '../schemas';
import { createKafkaClient, type OutgoingMessage } from '../services/common/kafka/client';
import { topics, type TopicSpec } from '../services/common/kafka/topics';
import { createMetricsRegistry } from '../services/common/metrics';
import { createRegistryConnection } from '../services/common/registry';
import { resolveIdentityRules } from '../services/identity-stitcher/identity/identity-rules';
import { createEventStitcher, type StitcherTopics } from '../services/identity-stitcher/stitch-events.consumer';
import { createStitcherMetrics } from '../services/identity-stitcher/stitcher.metrics';

const events = Number(process.argv[2] ?? 100_000);
/**
 * Events per person. The first half of a person's events are anonymous (two devices, four
 * anonymous ids), then they sign in: so the graph grows, merges and re-keys at the start
 * of every person and then mostly finds known identifiers, as with returning visitors.
 */
const perPerson = Number(process.argv[3] ?? 20);
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const run = `bench-${Date.now().toString(36)}`;

function syntheticEvent(i: number): Event {
  const person = Math.floor(i / perPerson);
  const device = randomBytes(8).toString('hex');
  const known = i % perPerson >= perPerson / 2;
  const now = Date.now();
  return {
    messageId: `${run}-${i}`,
    type: known ? 'track' : 'page',
    event: known ? 'Product Viewed' : null,
    name: known ? null : 'Home',
    userId: known ? `u-${person}` : null,
    anonymousId: `a-${person}-${i % 4}`,
    previousId: null,
    groupId: null,
    timestamp: now,
    sentAt: null,
    receivedAt: now,
    channel: 'web',
    source: 'bench',
    context: JSON.stringify({ device: { id: `d-${person}-${i % 2}` }, userAgent: 'Mozilla/5.0', page: { path: '/shoes', url: `https://shop.example/shoes?ref=${device}` } }),
    properties: JSON.stringify({ product_id: `p-${i % 500}`, price: 19.99 }),
    traits: known && i % perPerson === Math.ceil(perPerson / 2) ? JSON.stringify({ email: `Person${person}@Example.com` }) : '{}',
    consent: {},
  };
}

async function main(): Promise<void> {
  const kafka = createKafkaClient({ brokers, clientId: run, logger });
  const names: StitcherTopics = {
    raw: `${run}.raw`,
    json: `${run}.json`,
    stitched: `${run}.stitched`,
    changes: `${run}.changes`,
    graph: `${run}.graph`,
    deadLetters: `${run}.dlq`,
  };
  const passThroughOut = `${run}.copy`;
  const specs: TopicSpec[] = [
    { ...topics.eventsRaw, name: names.raw },
    { ...topics.eventsJson, name: names.json },
    { ...topics.eventsStitched, name: names.stitched },
    { ...topics.identityChanges, name: names.changes },
    { ...topics.identityGraph, name: names.graph },
    { ...topics.deadLetters, name: names.deadLetters },
    { ...topics.eventsRaw, name: passThroughOut },
  ];
  const admin = kafka.admin();
  await admin.connect();
  await admin.ensureTopics(specs);
  const registry = createRegistryConnection({ settings: { url: registryUrl, logger }, logger, topics: specs });
  await registry.start();
  const codec = registry.codec;

  const producer = kafka.producer();
  await producer.connect();
  const producedStarted = Date.now();
  let batch: OutgoingMessage[] = [];
  for (let i = 0; i < events; i++) {
    const event = syntheticEvent(i);
    batch.push({ key: event.userId ?? event.anonymousId, value: codec.encode(names.raw, event) });
    if (batch.length === 2_000) {
      await producer.send(names.raw, batch);
      batch = [];
    }
  }
  await producer.send(names.raw, batch);
  await producer.disconnect();
  console.log(JSON.stringify({ produced: events, eventsPerPerson: perPerson, seconds: (Date.now() - producedStarted) / 1000 }));

  // Pass-through: same client, same fetch settings, acks=all, offsets committed per batch.
  const passThrough = await (async () => {
    const out = kafka.producer();
    await out.connect();
    const consumer = kafka.consumer({ groupId: `${run}-copy`, topics: [names.raw], fromBeginning: true, maxWaitTimeInMs: 100 });
    await consumer.connect();
    let seen = 0;
    let first = 0;
    let last = 0;
    await consumer.run(async (messages, context) => {
      if (first === 0) first = Date.now();
      await out.send(passThroughOut, messages.messages.map((m) => ({ key: m.key, value: m.value })));
      context.resolveOffset(messages.messages[messages.messages.length - 1]!.offset);
      await context.commit();
      seen += messages.messages.length;
      last = Date.now();
    });
    while (seen < events) await new Promise((resolve) => setTimeout(resolve, 20));
    await consumer.disconnect();
    await out.disconnect();
    return { events: seen, seconds: (last - first) / 1000 };
  })();
  const passRate = passThrough.events / passThrough.seconds;
  console.log(JSON.stringify({ mode: 'pass-through', ...passThrough, eventsPerSecond: Math.round(passRate) }));

  // Transactional stitcher, in process.
  const metricsRegistry = createMetricsRegistry('bench');
  const metrics = createStitcherMetrics(metricsRegistry);
  let first = 0;
  let last = 0;
  const stitcher = createEventStitcher({
    kafka,
    codec: () => codec,
    logger,
    metrics,
    topics: names,
    groupId: `${run}-stitcher`,
    transactionalId: `${run}-txn`,
    rules: resolveIdentityRules(),
    fetchMaxWaitMs: 100,
    fetchMinBytes: 1,
    fetchMaxBytesPerPartition: Number(process.env.STITCHER_FETCH_MAX_BYTES_PER_PARTITION ?? 1_048_576),
    transactionTimeoutMs: 60_000,
    sessionTimeoutMs: 30_000,
    concurrency: Number(process.env.STITCHER_CONCURRENCY ?? 1),
    onFatal: (error) => {
      console.error('stitcher failed', error);
      process.exit(1);
    },
  });
  await stitcher.start();
  const stitchedSoFar = async (): Promise<number> => ((await metrics.events.get()).values.reduce((sum, v) => sum + v.value, 0));
  for (;;) {
    const done = await stitchedSoFar();
    if (done > 0 && first === 0) first = Date.now();
    if (done >= events) {
      last = Date.now();
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const transactions = (await metrics.transactionSeconds.get()).values.find((v) => v.metricName === 'kumiki_stitcher_transaction_seconds_count')?.value ?? 0;
  const txnSum = (await metrics.transactionSeconds.get()).values.find((v) => v.metricName === 'kumiki_stitcher_transaction_seconds_sum')?.value ?? 0;
  await stitcher.stop();
  const seconds = (last - first) / 1000;
  const rate = events / seconds;
  console.log(
    JSON.stringify({
      mode: 'transactional-stitcher',
      events,
      seconds,
      eventsPerSecond: Math.round(rate),
      transactions,
      meanTransactionMs: transactions ? Math.round((txnSum / transactions) * 1000) : null,
      eventsPerTransaction: transactions ? Math.round(events / transactions) : null,
      identifiers: stitcher.graph()?.identifierCount,
      profiles: stitcher.graph()?.profileCount,
    }),
  );
  console.log(JSON.stringify({ ratioToPassThrough: Number((rate / passRate).toFixed(2)) }));
  await admin.deleteTopics(specs.map((s) => s.name)).catch(() => undefined);
  await admin.disconnect();
  await registry.stop();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
