import { performance } from 'node:perf_hooks';
import type { IncomingMessage, KafkaAdmin, KafkaClient } from '../common/kafka/client';
import type { TopicTail } from '../common/kafka/topic-tail';
import type { Component } from '../common/lifecycle';
import type { Logger } from '../common/logger';
import { CatchUpBarrier } from './catch-up-barrier';

export interface TopicTableSource {
  readonly kafka: KafkaClient;
  readonly admin: () => KafkaAdmin;
  readonly topic: string;
  readonly logger: Logger;
}

/**
 * A table the activator keeps in memory from a compacted topic (profiles, withheld people, the
 * recipient ledger): followed from the beginning by a tail that never commits, ready once it has
 * read what the topic held at start, with the barrier sends wait on (`caughtUpSince`).
 */
export abstract class TopicTable implements Component {
  abstract readonly name: string;
  private tail: TopicTail | undefined;
  private barrier: CatchUpBarrier | undefined;
  private ready = false;

  constructor(
    protected readonly source: TopicTableSource,
    private readonly groupIdPrefix: string,
  ) {}

  /** Each batch's records, in offset order per partition. */
  protected abstract apply(messages: readonly IncomingMessage[]): void | Promise<void>;

  /** What the start log line says about the loaded table. */
  protected abstract summary(): Record<string, unknown>;

  async start(): Promise<void> {
    const tail = this.source.kafka.tail({
      topic: this.source.topic,
      groupIdPrefix: this.groupIdPrefix,
      logger: this.source.logger,
      onRecords: (messages) => this.apply(messages),
    });
    this.tail = tail;
    this.barrier = new CatchUpBarrier(
      () => this.source.admin().endOffsets(this.source.topic),
      (ends) => tail.caughtUpTo(ends),
    );
    await tail.start();
    const started = performance.now();
    await this.caughtUpSince(started);
    this.source.logger.info(
      { topic: this.source.topic, ...this.summary(), ms: Math.round(performance.now() - started) },
      `${this.name} loaded`,
    );
    this.ready = true;
  }

  async stop(): Promise<void> {
    this.ready = false;
    await this.tail?.stop();
  }

  isHealthy(): boolean {
    return true;
  }

  isReady(): boolean {
    return this.ready;
  }

  /**
   * Resolves once the table holds everything the topic held at some moment after `receivedAt`
   * (a `performance.now()` taken when the caller's record arrived); see CatchUpBarrier.
   */
  caughtUpSince(receivedAt: number): Promise<void> {
    return this.barrier!.caughtUpSince(receivedAt);
  }

  /** Resolves once the table has read the record at `offset` of `partition`. */
  protected readPast(partition: number, offset: string): Promise<void> {
    return this.tail!.caughtUpTo(new Map([[partition, BigInt(offset) + 1n]]));
  }
}
