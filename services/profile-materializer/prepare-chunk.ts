import type { IdentityChange, StitchedEvent } from '../../schemas';
import type { EncodedRows } from '../common/clickhouse/encoded-rows';
import type { IncomingMessage } from '../common/kafka/messages';
import { pipeline, type Pipeline } from '../common/pipeline';
import { recordOrigin, rejection, type Rejection } from '../common/result-handler';
import type { Merge } from './alias-map';
import { encodeEventRows } from './profile.repository';
import type { ErasedPeople } from './privacy/erased-people';
import { partitionKey } from './replay-window';
import { dropErasedRecordStep } from './steps/drop-erased-record.step';
import {
  decodeRecordStep,
  undecodableRecord,
  type DecodeRecordDeps,
  type MaterializerRecord,
} from './steps/decode-record.step';
import {
  identityRowOfEvent,
  rowsOfChange,
  toEventRow,
  type EventRow,
  type IdentityLinkRow,
  type IdentityRow,
} from './store-rows';

/** A chunk decoded into rows, not yet written (phase 1a, see materialize-batch.ts). */
export interface PreparedChunk {
  readonly size: number;
  /** The events_store rows, serialised here: off the chain of inserts (see encoded-rows.ts). */
  readonly events: EncodedRows;
  readonly messageIds: readonly string[];
  /** Some event is an order or carries revenue. */
  readonly hasOrders: boolean;
  readonly identityRows: readonly IdentityRow[];
  readonly linkRows: readonly IdentityLinkRow[];
  readonly merges: readonly Merge[];
  readonly touched: ReadonlySet<string>;
  /** Records dead-lettered, written with the chunk (storeChunk). */
  readonly rejections: readonly Rejection[];
  /** Records dropped, by the step that dropped them. */
  readonly drops: ReadonlyMap<string, number>;
  readonly changes: number;
  /** The partitions its records came from (partitionKey). */
  readonly partitions: ReadonlySet<string>;
  /** The event rows themselves, kept only when profiling needs consent (they are sorted out when written). */
  readonly eventRows?: readonly EventRow[];
}

export interface PrepareChunkDeps extends DecodeRecordDeps {
  /** People privacy requests erased: their replayed records are dropped (drop-erased-record). */
  readonly erased?: ErasedPeople;
  /** Consent purposes profiling needs: the chunk keeps its event rows for storeChunk to sort out. */
  readonly profilingPurposes?: readonly string[];
}

/**
 * Each record's path to the chunk's rows: decoded, then kept out of ClickHouse when it is an
 * erased person's coming back (a replay, a rebuild).
 */
export function materializerPath(deps: PrepareChunkDeps): Pipeline<IncomingMessage, MaterializerRecord> {
  return pipeline<IncomingMessage>().pipe(decodeRecordStep(deps)).pipe(dropErasedRecordStep(deps.erased));
}

/** Records prepareChunk decodes before it lets the event loop run the other tasks waiting. */
const yieldEvery = 1_000;

/**
 * Phase 1a: decode the records into rows (CPU only, nothing written). Split from storeChunk so
 * the consumer can decode the next chunk while ClickHouse is still inserting this one.
 */
export async function prepareChunk(
  messages: readonly IncomingMessage[],
  deps: PrepareChunkDeps,
  path: Pipeline<IncomingMessage, MaterializerRecord> = materializerPath(deps),
): Promise<PreparedChunk> {
  const rows = new ChunkRows();
  let sinceYield = 0;
  for (const message of messages) {
    // Decoding a chunk takes ~10 ms per 1,000 records on the main thread; a profile refresh
    // runs beside it, and each of its steps would wait for the whole chunk otherwise.
    if (++sinceYield === yieldEvery) {
      sinceYield = 0;
      await new Promise(setImmediate);
    }
    rows.partitions.add(partitionKey(message.topic, message.partition));
    const running = path.run(message);
    const outcome = running instanceof Promise ? await running : running;
    if (outcome.kind === 'drop') rows.dropped(outcome.step);
    else if (outcome.kind === 'dlq') rows.rejected(rejection(outcome, recordOrigin(message)));
    else {
      try {
        rows.add(outcome.value);
      } catch (error) {
        // Its values do not make rows (a time no date can hold, say): as undecodable as bad bytes.
        rows.rejected(
          rejection(
            { ...undecodableRecord(message, deps.topics, error), step: 'decode-record' },
            recordOrigin(message),
          ),
        );
      }
    }
  }
  return rows.finish(messages.length, (deps.profilingPurposes?.length ?? 0) > 0);
}

/** Where a chunk's rows are assembled from its records, before they are written. */
class ChunkRows {
  readonly partitions = new Set<string>();
  private readonly eventRows: EventRow[] = [];
  private readonly identityRows = new Map<string, IdentityRow>();
  private readonly linkRows: IdentityLinkRow[] = [];
  private readonly merges: Merge[] = [];
  private readonly touched = new Set<string>();
  private readonly rejections: Rejection[] = [];
  private readonly drops = new Map<string, number>();
  private changes = 0;

  add(record: MaterializerRecord): void {
    if (record.kind === 'change') this.addChange(record.change);
    else this.addEvent(record.event);
  }

  dropped(step: string): void {
    this.drops.set(step, (this.drops.get(step) ?? 0) + 1);
  }

  rejected(rejected: Rejection): void {
    this.rejections.push(rejected);
  }

  /** `keepEventRows`: profiling needs consent, and storeChunk sorts the rows out. */
  finish(size: number, keepEventRows: boolean): PreparedChunk {
    const { eventRows } = this;
    return {
      size,
      events: encodeEventRows(eventRows),
      messageIds: eventRows.map((row) => row.message_id),
      hasOrders: eventRows.some((row) => row.order_id !== '' || row.revenue !== null),
      identityRows: [...this.identityRows.values()],
      linkRows: this.linkRows,
      merges: this.merges,
      touched: this.touched,
      rejections: this.rejections,
      drops: this.drops,
      changes: this.changes,
      partitions: this.partitions,
      ...(keepEventRows ? { eventRows } : {}),
    };
  }

  private addChange(change: IdentityChange): void {
    this.changes += 1;
    const rows = rowsOfChange(change);
    for (const row of rows.identities)
      this.addIdentity(row.identifier_type, row.identifier_value, row.version, () => row);
    this.linkRows.push(...rows.links);
    if (change.kind === 'merge' && change.absorbedProfileIds.length > 0) {
      this.merges.push({
        survivor: change.profileId,
        absorbed: change.absorbedProfileIds,
        mergedAt: change.changedAt,
        messageId: change.messageId,
      });
    }
    if (change.kind !== 'refused') this.touched.add(change.profileId);
  }

  private addEvent(record: StitchedEvent): void {
    this.eventRows.push(toEventRow(record));
    for (const identifier of record.identifiers)
      this.addIdentity(identifier.type, identifier.value, record.stitchedAt, () =>
        identityRowOfEvent(record, identifier),
      );
    this.touched.add(record.profileId);
  }

  /**
   * One identities row per identifier and chunk: the highest version is the one FINAL keeps anyway.
   * The row is built only when it is kept (most events repeat identifiers the chunk already has).
   */
  private addIdentity(type: string, value: string, version: number, row: () => IdentityRow): void {
    const key = `${type}\u0000${value}`;
    const current = this.identityRows.get(key);
    if (!current || version > current.version) this.identityRows.set(key, row());
  }
}
