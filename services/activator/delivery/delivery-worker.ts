import type { Destination } from '../../../schemas';
import { errorMessage } from '../../common/errors';
import type { BatchConsumer, KafkaAdmin, KafkaClient } from '../../common/kafka/client';
import type { Logger } from '../../common/logger';
import { sleep } from '../../common/retry';
import type { ActivatorMetrics } from '../activator.metrics';
import type { SecretBox } from '../destinations/secret-box';
import type { ChangeOutcome, DestinationRuntime } from './deliver-change';
import { receivedNow } from './deliver-change';
import { DeliveryScheduler, type DeliveryJob } from './delivery-scheduler';
import { LiveDestination } from './destination-runtime';

/** A member that died is replaced within this; its partitions wait for no longer. */
const sessionTimeoutMs = 10_000;

/** Waits for `promise` (never rejects), at most `ms`. */
async function settledWithin(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export interface DeliveryWorkerDeps {
  readonly kafka: KafkaClient;
  readonly admin: () => KafkaAdmin;
  readonly secrets: SecretBox;
  readonly deliver: (job: DeliveryJob, runtime: DestinationRuntime) => Promise<ChangeOutcome>;
  /** The delivery log's records of finished changes are on their topic (before their offsets are committed). */
  readonly logDurable: () => Promise<void>;
  readonly metrics: ActivatorMetrics;
  readonly logger: Logger;
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly settings: {
    readonly concurrency: number;
    readonly maxPending: number;
    readonly commitIntervalMs: number;
    readonly autoPauseAfterMs: number;
    readonly allowPrivateTargets: boolean;
  };
  /** Asks for the destination to be paused (it failed for too long, or its grant was withdrawn); the worker is stopped by the pause. */
  readonly pause: (reason: string) => void;
}

/**
 * One webhook destination on this instance: its own consumer group (so its progress, its
 * failures and its pauses are its own and never hold up another destination), the scheduler
 * that keeps per-profile order, its HTTP connections, rate limiter and in-flight bound.
 *
 * The consumer hands batches to the scheduler and moves on (kafkajs fetches ahead); what is
 * committed is the scheduler's committable offsets, on a timer and at stop, once the delivery
 * log holds the records of the changes they finish (a withheld change's only trace). A rebalance
 * abandons what is in hand (see DeliveryScheduler). A job failing for a reason it cannot wait
 * out (a bug) restarts the consumer, which resumes from the committed offsets.
 */
export class DeliveryWorker {
  private readonly scheduler: DeliveryScheduler;
  private readonly runtime: LiveDestination;
  private consumer: BatchConsumer | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  private committed = new Map<string, bigint>();
  private partitionsTotal = 0;
  private partitionsMine = 0;
  private stopped = false;
  /** Between a decision to stop or restart and the consumer's disconnect, kafkajs may still hand over batches: they are left alone. */
  private suspended = false;
  private restarting: Promise<void> | undefined;
  /** Settles once the current consumer has joined its group, or has failed before it could. */
  private joinSettled: Promise<void> = Promise.resolve();
  private readonly logger: Logger;

  constructor(
    destination: Destination,
    private readonly deps: DeliveryWorkerDeps,
  ) {
    this.logger = deps.logger.child({ component: 'delivery-worker', destination: destination.id });
    this.runtime = new LiveDestination(destination, {
      secrets: deps.secrets,
      concurrency: deps.settings.concurrency,
      allowPrivateTargets: deps.settings.allowPrivateTargets,
      autoPauseAfterMs: deps.settings.autoPauseAfterMs,
      metrics: deps.metrics,
      pause: (reason) => {
        this.logger.warn({ reason }, 'pausing the destination');
        deps.pause(reason);
      },
    });
    this.scheduler = new DeliveryScheduler({
      maxPending: deps.settings.maxPending,
      // Enough to keep every request slot busy while others are being prepared or wait: for the
      // tables' barriers (end offsets are read every 10 ms at most), then for their audit record.
      maxActive: deps.settings.concurrency * 16,
      run: (job) => this.deps.deliver(job, this.runtime),
      onFailure: (error) => void this.restart(error),
    });
  }

  private get destination(): Destination {
    return this.runtime.destination();
  }

  async start(): Promise<void> {
    const admin = this.deps.admin();
    this.partitionsTotal = 0;
    for (const topic of this.deps.topics) this.partitionsTotal += await admin.partitionCount(topic);
    await this.startConsumer();
    this.commitTimer = setInterval(() => void this.commit(), this.deps.settings.commitIntervalMs);
    this.logger.info({ groupId: this.deps.groupId, topics: this.deps.topics }, 'delivering');
  }

  /** A new version of the destination with the same group and topics: applies from the next attempt. */
  update(destination: Destination): void {
    this.runtime.update(destination);
    this.applyRate();
  }

  /** Stops fetching, abandons what is in hand, commits what is finished, disconnects. Safe twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.commitTimer);
    await this.stopConsumer();
    this.runtime.close();
    this.deps.metrics.pending.remove({ destination: this.destination.id });
  }

  private async startConsumer(): Promise<void> {
    let settleJoin = (): void => undefined;
    this.joinSettled = new Promise<void>((resolve) => (settleJoin = resolve));
    const consumer = this.deps.kafka.consumer({
      groupId: this.deps.groupId,
      topics: this.deps.topics,
      // Positions are set explicitly when the group is made (creation, replay); this applies
      // only to partitions added to a topic later.
      fromBeginning: true,
      partitionsConsumedConcurrently: 6,
      maxWaitTimeInMs: 100,
      sessionTimeoutMs,
      includeEmptyBatches: true,
      onGroupJoin: (assignment) => {
        settleJoin();
        this.scheduler.reset();
        this.runtime.inFlight.cancelWaiting();
        this.runtime.sender.abortAll();
        this.committed = new Map();
        this.partitionsMine = Object.values(assignment).reduce((n, partitions) => n + partitions.length, 0);
        this.applyRate();
      },
    });
    this.consumer = consumer;
    await consumer.connect().catch((error: unknown) => {
      settleJoin();
      throw error;
    });
    void consumer
      .run(async (batch, context) => {
        if (this.stopped || this.suspended) return;
        const receivedAt = receivedNow();
        const room = this.scheduler.offer(batch.topic, batch.partition, batch.messages, batch.lastOffset, receivedAt);
        // Waiting for room (changes pile up behind a slow destination) keeps the group alive.
        let hasRoom = false;
        void room.then(() => (hasRoom = true));
        while (!hasRoom && context.isRunning() && !this.stopped) {
          await Promise.race([room, sleep(1_000)]);
          if (!hasRoom) await context.heartbeat();
        }
        if (batch.messages.length > 0) context.resolveOffset(batch.lastOffset);
      })
      .catch((error: unknown) => {
        settleJoin();
        void this.restart(error);
      });
  }

  private async stopConsumer(): Promise<void> {
    this.suspended = true;
    this.scheduler.reset();
    this.runtime.inFlight.cancelWaiting();
    this.runtime.sender.abortAll();
    await this.commit();
    // A member disconnected in the middle of its join stays on the broker, half-joined, until its
    // session lapses, and the group's next join (a resume right after a pause) waits for it. Once
    // joined, the disconnect leaves the group.
    await settledWithin(this.joinSettled, sessionTimeoutMs);
    await this.consumer?.disconnect().catch(() => undefined);
    this.consumer = undefined;
  }

  /** Restarts the consumer after a failure it cannot wait out; it resumes from the committed offsets. */
  private restart(error: unknown): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.restarting ??= (async () => {
      this.logger.error(
        { error: errorMessage(error) },
        'delivery failed unexpectedly: restarting from the committed offsets',
      );
      await this.stopConsumer();
      await sleep(1_000);
      this.suspended = false;
      if (!this.stopped) await this.startConsumer();
    })()
      .catch((failure: unknown) => this.logger.error({ error: errorMessage(failure) }, 'restart failed'))
      .finally(() => (this.restarting = undefined));
    return this.restarting;
  }

  private async commit(): Promise<void> {
    const consumer = this.consumer;
    if (!consumer?.commitOffsets) return;
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    const advanced = new Map<string, bigint>();
    for (const [key, offset] of this.scheduler.committable()) {
      if ((this.committed.get(key) ?? -1n) >= offset) continue;
      const slash = key.lastIndexOf('/');
      offsets.push({ topic: key.slice(0, slash), partition: Number(key.slice(slash + 1)), offset: offset.toString() });
      advanced.set(key, offset);
    }
    this.deps.metrics.pending.set({ destination: this.destination.id }, this.scheduler.pendingCount);
    if (offsets.length === 0) return;
    try {
      await this.deps.logDurable();
      await consumer.commitOffsets(offsets);
      for (const [key, offset] of advanced) this.committed.set(key, offset);
    } catch (error) {
      // A rebalance in progress refuses commits (and the log may not be writable yet); the next
      // generation starts from the last commit that went through.
      this.logger.warn({ error: errorMessage(error) }, 'commit of delivered offsets failed; will retry');
    }
  }

  /** This instance's share of the destination's rate: it delivers its partitions' share of the changes. */
  private applyRate(): void {
    const rate = this.destination.rateLimit;
    const share = this.partitionsTotal > 0 ? this.partitionsMine / this.partitionsTotal : 1;
    this.runtime.limiter.setRate(rate === null ? null : rate * Math.max(share, 1 / Math.max(this.partitionsTotal, 1)));
  }
}
