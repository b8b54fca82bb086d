import type { Type } from 'avsc';
import { schema, type DeadLetter, type SegmentChange } from '../../../schemas';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { connectWithBackoff } from '../../common/dependency';
import { errorMessage, isRetriable } from '../../common/errors';
import type { BatchConsumer, KafkaClient } from '../../common/kafka/client';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import type { AvroCodec } from '../../common/registry/avro-codec';
import { deadLetterRow, segmentChangeRow, type RecordSource } from './history-rows';

/**
 * Keeps the history of the dead-letter and segment-changes topics in ClickHouse
 * (dead_letters_store, segment_changes_store; migration 0017) for the console and SQL users.
 *
 * Its own consumer group, so it never holds up or shares a batch with the ingest consumer; the
 * records it reads are few beside the events (bad input, membership changes). Offsets follow
 * durability: a batch's rows are inserted, then its offsets committed, so a crash replays rows
 * that the stores' keys (topic, partition, offset) collapse. A record that cannot be decoded for
 * good is logged and skipped (there is no dead-letter topic for the dead-letter topic); one whose
 * schema cannot be fetched yet fails the batch, which kafkajs retries.
 */
export interface TopicHistoryDeps {
  readonly kafka: KafkaClient;
  readonly clickhouse: () => ClickHouse;
  readonly codec: () => AvroCodec;
  readonly logger: Logger;
  readonly groupId: string;
  readonly topics: { readonly deadLetters: string; readonly segmentChanges: string };
  /**
   * Whether a profile was erased (or is being erased) by a privacy request: its segment changes
   * are not kept, so neither the erasure's own exits nor a re-read of the topic bring it back.
   */
  readonly isErasedProfile?: (profileId: string) => boolean;
}

/** The record's row, or undefined when it is not kept. */
type RowOf = (source: RecordSource, bytes: Buffer) => Promise<Record<string, unknown> | undefined>;

export function createTopicHistory(deps: TopicHistoryDeps): Component {
  const logger = deps.logger.child({ component: 'topic-history', groupId: deps.groupId });
  const keep =
    <T>(reader: Type, row: (source: RecordSource, value: T) => Record<string, unknown> | undefined): RowOf =>
    async (source, bytes) =>
      row(source, (await deps.codec().decode<T>(bytes, reader)).value);
  const erased = deps.isErasedProfile ?? (() => false);
  const kept = new Map<string, { readonly table: string; readonly rowOf: RowOf }>([
    [
      deps.topics.deadLetters,
      { table: 'dead_letters_store', rowOf: keep<DeadLetter>(schema('DeadLetter').type, deadLetterRow) },
    ],
    [
      deps.topics.segmentChanges,
      {
        table: 'segment_changes_store',
        rowOf: keep<SegmentChange>(schema('SegmentChange').type, (source, change) =>
          erased(change.profileId) ? undefined : segmentChangeRow(source, change),
        ),
      },
    ],
  ]);
  const abort = new AbortController();
  let consumer: BatchConsumer | undefined;
  let stopped = false;

  return {
    name: 'topic-history',
    async start() {
      const created = deps.kafka.consumer({
        groupId: deps.groupId,
        topics: [...kept.keys()],
        fromBeginning: true,
        maxWaitTimeInMs: 1_000,
      });
      consumer = created;
      await connectWithBackoff('topic history consumer', () => created.connect(), logger, abort.signal);
      // run() resolves once the consumer has joined; batches arrive in the background.
      await created.run(async (batch, context) => {
        const spec = kept.get(batch.topic);
        const last = batch.messages.at(-1);
        if (!spec || !last) return;
        const rows: Record<string, unknown>[] = [];
        for (const message of batch.messages) {
          if (!message.value) continue;
          const source = { topic: batch.topic, partition: batch.partition, offset: message.offset };
          try {
            const row = await spec.rowOf(source, message.value);
            if (row) rows.push(row);
          } catch (error) {
            if (isRetriable(error)) throw error;
            logger.warn({ ...source, error: errorMessage(error) }, 'record not kept in history: it cannot be decoded');
          }
        }
        await deps.clickhouse().insert(spec.table, rows);
        context.resolveOffset(last.offset);
        await context.commit();
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      abort.abort();
      await consumer?.disconnect();
    },
    isHealthy: () => true,
    // History is for people reading it later; the materializer's work never waits for it.
    isReady: () => true,
  };
}
