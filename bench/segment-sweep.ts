/**
 * Sweep time of many rule segments over many profiles, on embedded ClickHouse (chDB), real
 * Kafka transactions and the real registry.
 *
 *   npm run build && node dist/bench/segment-sweep.js [profiles=100000] [segments=50] [eventsPerProfile=5]
 *
 * Data is generated inside ClickHouse (INSERT … SELECT from numbers()), so the process holds
 * none of it. Segments cycle through the rule kinds (traits, event counts in a window, "did X but
 * not Y within N", time since last event, channels, date parts, consent); RFM rules are left
 * out: they read the RFM snapshot, which this benchmark does not build. Reported: the first
 * sweep (every member enters: diff + publish + apply), a second sweep at the same `now` (diff
 * only, no changes), a sweep a day later (time-relative changes), and the process's peak RSS.
 */
import fs from 'node:fs';
import pino from 'pino';
import { createKafkaClient } from '../services/common/kafka/client';
import { Registry } from '../services/common/metrics';
import { createSegmentEvaluation } from '../services/profile-materializer/segments/evaluation/segment-evaluation.component';
import { dateTime64Text } from '../services/common/clickhouse/datetime64';
import { createSegment } from '../services/profile-materializer/segments/segment.repository';
import { defaultSegmentLimits } from '../services/profile-materializer/segments/validate-segment-sql';
import { benchClickHouse } from './support/bench-clickhouse';

const [profiles = 100_000, segmentCount = 50, eventsPerProfile = 5] = process.argv.slice(2).map(Number);
const logger = pino({ level: 'warn' });
const DAY = 86_400_000;
const now = Date.UTC(2026, 10, 23, 12, 0, 0);

function rule(i: number): Record<string, unknown> {
  const plans = ['free', 'basic', 'pro', 'team', 'enterprise'];
  switch (i % 7) {
    case 0:
      return { trait: 'plan', op: 'eq', value: plans[i % plans.length] };
    case 1:
      return {
        performed: { event: 'Order Completed' },
        within: { days: 7 + (i % 30) },
        count: { op: 'gte', value: 1 + (i % 2) },
      };
    case 2:
      return {
        performed: { event: 'Product Added' },
        notFollowedBy: { event: 'Order Completed' },
        within: { days: 1 + (i % 3) },
        lookback: { days: 14 },
      };
    case 3:
      return { lastPerformed: { event: 'Order Completed' }, op: 'eq', value: { days: 1 + (i % 10) } };
    case 4:
      return { channels: ['web', 'store'], match: 'all', within: { days: 30 + i } };
    case 5:
      return { trait: 'birthday', part: 'month', op: 'eq', value: 'now' };
    default:
      return { and: [{ consent: 'marketing' }, { performed: { type: 'page' }, within: { days: 3 + (i % 5) } }] };
  }
}

async function main(): Promise<void> {
  const { ch, home } = await benchClickHouse('sweep', logger);
  const generated = Date.now();
  await ch.command(
    `INSERT INTO profiles_store (profile_id, traits, first_seen, last_seen, consent, channels, identifiers, version)
     SELECT concat('p', toString(number)),
            concat('{"plan":"', ['free','basic','pro','team','enterprise'][1 + number % 5], '","birthday":"19', toString(60 + number % 40), '-', leftPad(toString(1 + number % 12), 2, '0'), '-15"}'),
            {t0:DateTime64(3, 'UTC')} - INTERVAL 300 DAY, {t0:DateTime64(3, 'UTC')}, map('marketing', number % 3 = 0), [], [], 1
     FROM numbers({n:UInt64})`,
    { n: profiles, t0: dateTime64Text(now) },
  );
  await ch.command(
    `INSERT INTO events_store (message_id, profile_id, type, event, name, timestamp, received_at, channel, order_id, revenue, currency, version)
     SELECT concat('m', toString(number)), concat('p', toString(number % {n:UInt64})),
            if(number % 4 = 0, 'page', 'track'),
            multiIf(number % 4 = 0, '', number % 4 = 1, 'Product Added', number % 4 = 2, 'Order Completed', 'Product Viewed'),
            if(number % 4 = 0, 'Home', ''),
            {t0:DateTime64(3, 'UTC')} - toIntervalMillisecond(cityHash64(number) % toUInt64(60 * 86400000)),
            {t0:DateTime64(3, 'UTC')},
            ['web','mobile','store'][1 + cityHash64(number, 1) % 3],
            if(number % 4 = 2, concat('o', toString(number)), ''),
            if(number % 4 = 2, toDecimal64(10 + number % 90, 4), NULL),
            if(number % 4 = 2, 'USD', ''),
            1
     FROM numbers({events:UInt64})`,
    { n: profiles, events: profiles * eventsPerProfile, t0: dateTime64Text(now) },
  );
  process.stdout.write(
    `generated ${profiles} profiles and ${profiles * eventsPerProfile} events in ${((Date.now() - generated) / 1000).toFixed(1)} s\n`,
  );

  let clock = now;
  for (let i = 0; i < segmentCount; i++) {
    await createSegment(ch, { name: `bench-${i}`, rule: rule(i) }, { limits: defaultSegmentLimits, now: () => clock });
  }
  const kafka = createKafkaClient({
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    clientId: 'bench-segment-sweep',
    logger,
  });
  const topic = `bench-segment-changes-${Date.now().toString(36)}`;
  const evaluation = createSegmentEvaluation({
    kafka,
    clickhouse: () => ch,
    registry: { url: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7' },
    settings: {
      topic,
      transactionalId: `${topic}-tx`,
      sweepIntervalMs: 0,
      maxProfilesPerRun: 5_000,
      sweepPageSize: 5_000,
    },
    logger,
    metrics: new Registry(),
    now: () => clock,
  });
  await evaluation.start();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const timed = async (label: string): Promise<void> => {
    const started = Date.now();
    const outcome = await evaluation.sweep();
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(
      `${label}: ${outcome.segments} segments, ${outcome.changes} changes in ${seconds.toFixed(1)} s (${(outcome.changes / seconds).toFixed(0)} changes/s)\n`,
    );
  };
  try {
    await timed('first sweep (all enter)');
    await timed('second sweep, same now (diff only)');
    clock = now + DAY;
    await timed('sweep one day later');
  } finally {
    clearInterval(sampler);
    process.stdout.write(`peak RSS ${(peakRss / 1024 ** 2).toFixed(0)} MiB (chDB included)\n`);
    await evaluation.stop();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics([topic]).catch(() => undefined);
    await admin.disconnect();
    await ch.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
    process.exit(1);
  },
);
