import { PrivacyKey } from '../../../services/common/privacy/privacy-key';
import { testPrivacyKey } from '../../support/privacy-key';
import pino from 'pino';
import { schema } from '../../../schemas';
import { DependencyUnavailableError } from '../../../services/common/errors';
import type { KafkaClient } from '../../../services/common/kafka/client';
import { ProducerFencedError, type TransactionalProducer } from '../../../services/common/kafka/transactions';
import { createMetricsRegistry } from '../../../services/common/metrics';
import type { AvroCodec } from '../../../services/common/registry';
import { resolveIdentityRules } from '../../../services/identity-stitcher/identity/identity-rules';
import { createEventStitcher, type EventStitcher } from '../../../services/identity-stitcher/stitch-events.consumer';
import { createStitcherMetrics } from '../../../services/identity-stitcher/stitcher.metrics';
import { generatePopulation } from '../../support/identity-population';
import { testKafka } from '../../support/kafka';
import {
  committedLag,
  createStitcherTopics,
  decodeAll,
  readAll,
  stitcherCodec,
  stitcherSetup,
  type StitchedEvent,
  type StitcherSetup,
} from '../../support/stitcher';
import { waitFor } from '../../support/wait-for';

/**
 * The chaos soak's seed 505: a stitcher frozen inside an open transaction for longer than its
 * session timeout is replaced (the replacement initialises the same transactional id, which
 * aborts the frozen transaction, and takes the partitions once the frozen member's session has
 * lapsed). The frozen one wakes to a broker that restarted meanwhile, so its commit fails on
 * the coordinator's absence rather than on fencing. It must find out it was fenced and stop; it
 * must not initialise transactions again, which would fence the live replacement.
 *
 * Real Kafka throughout; the one thing staged is the frozen commit and the error it wakes to
 * (the broker here is shared and cannot be restarted): the zombie's commit never reaches the
 * broker, and throws what kafkajs throws when no coordinator answers.
 */
const kafka = testKafka();
const population = generatePopulation(300, 505).map((item) => item.event);
const [beforeFreeze, whileFrozen, afterWaking] = [
  population.slice(0, 100),
  population.slice(100, 200),
  population.slice(200),
];
const sessionTimeoutMs = 10_000;

interface Frozen {
  /** Resolves when the zombie's commit is reached (it then waits for `wake`). */
  readonly reached: Promise<void>;
  wake(): void;
}

/** The real client, but the first transaction's commit freezes until woken and then fails as if the coordinator were away. */
function freezingFirstCommit(client: KafkaClient): { client: KafkaClient; frozen: Frozen } {
  let reached!: () => void;
  let wake!: () => void;
  const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
  const woken = new Promise<void>((resolve) => (wake = resolve));
  let armed = true;
  const transactionalProducer: KafkaClient['transactionalProducer'] = (options) => {
    const real = client.transactionalProducer(options);
    const producer: TransactionalProducer = {
      connect: () => real.connect(),
      confirmHolder: () => real.confirmHolder(),
      disconnect: () => real.disconnect(),
      begin: async () => {
        const transaction = await real.begin();
        if (!armed) return transaction;
        armed = false;
        return {
          ...transaction,
          commit: async () => {
            reached();
            await woken;
            throw new DependencyUnavailableError('Kafka: cannot commit transaction: Failed to find group coordinator', {
              dependency: 'kafka',
            });
          },
        };
      },
    };
    return producer;
  };
  return { client: { ...client, transactionalProducer }, frozen: { reached: reachedPromise, wake } };
}

function startStitcherHere(setup: StitcherSetup, codec: AvroCodec, client: KafkaClient) {
  const fatal: unknown[] = [];
  const stitcher: EventStitcher = createEventStitcher({
    kafka: client,
    codec: () => codec,
    logger: pino({ level: 'silent' }),
    metrics: createStitcherMetrics(createMetricsRegistry('test')),
    topics: {
      raw: setup.raw,
      json: setup.json,
      stitched: setup.stitched,
      changes: setup.changes,
      graph: setup.graph,
      deadLetters: setup.dlq,
      privacy: setup.privacy,
      subjects: setup.subjects,
    },
    groupId: setup.groupId,
    transactionalId: setup.transactionalId,
    rules: resolveIdentityRules(),
    privacyKey: PrivacyKey.fromHex(testPrivacyKey),
    fetchMaxWaitMs: 100,
    fetchMinBytes: 1,
    fetchMaxBytesPerPartition: 1_048_576,
    transactionTimeoutMs: 60_000,
    sessionTimeoutMs,
    concurrency: 2,
    linkRequestThreads: 0,
    onFatal: (error) => void fatal.push(error),
  });
  return { stitcher, fatal };
}

async function produce(setup: StitcherSetup, codec: AvroCodec, events: typeof population): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  await producer.send(
    setup.raw,
    events.map((event) => ({
      key: event.userId ?? event.anonymousId ?? event.messageId,
      value: codec.encode(setup.raw, event),
    })),
  );
  await producer.disconnect();
}

async function drained(setup: StitcherSetup, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const lag = await committedLag(kafka, setup);
      if (lag > 0) throw new Error(`lag ${lag}`);
    },
    { timeoutMs, intervalMs: 250 },
  );
}

describe('a woken zombie stitcher whose commit fails on a missing coordinator', () => {
  it('finds it was fenced and stops; the live stitcher goes on committing, every event once', async () => {
    const setup = stitcherSetup('st-woken');
    await createStitcherTopics(kafka, setup, 2);
    const codec = await stitcherCodec(setup);
    // In-process stitchers: the outputs' schemas are bound here, as the service's registry component does.
    await codec.registerAndBind(`${setup.stitched}-value`, schema('StitchedEvent').text);
    await codec.registerAndBind(`${setup.changes}-value`, schema('IdentityChange').text);
    await codec.registerAndBind(`${setup.graph}-value`, schema('IdentityGraphRecord').text);
    await codec.registerAndBind(`${setup.dlq}-value`, schema('DeadLetter').text);
    await produce(setup, codec, beforeFreeze);

    const { client: freezing, frozen } = freezingFirstCommit(kafka);
    const zombie = startStitcherHere(setup, codec, freezing);
    await zombie.stitcher.start();
    await frozen.reached; // frozen inside its first transaction, its batches' records sent
    // Its next batches wait for that commit: its fetching stops, and with it its heartbeats.
    await produce(setup, codec, whileFrozen);

    const live = startStitcherHere(setup, codec, kafka);
    try {
      await live.stitcher.start(); // fences the zombie's transactional id, aborting its transaction
      // The frozen member's session lapses and the live one takes every partition.
      await drained(setup, 60_000);

      frozen.wake();
      await waitFor(
        () => {
          if (zombie.fatal.length === 0) throw new Error('the zombie has not stopped');
        },
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      expect(zombie.fatal).toHaveLength(1);
      expect(zombie.fatal[0]).toBeInstanceOf(ProducerFencedError);
      expect(zombie.stitcher.isHealthy()).toBe(false);

      // The live stitcher was not fenced: it commits what comes next.
      await produce(setup, codec, afterWaking);
      await drained(setup, 60_000);
      expect(live.fatal).toEqual([]);
      expect(live.stitcher.isReady()).toBe(true);
    } finally {
      await zombie.stitcher.stop();
      await live.stitcher.stop();
    }

    const stitched = await decodeAll<StitchedEvent>(codec, await readAll(kafka, setup.stitched));
    const ids = stitched.map((s) => s.event.messageId).sort();
    expect(ids).toEqual(population.map((event) => event.messageId).sort());
  }, 150_000);
});
