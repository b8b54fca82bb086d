import type * as avro from 'avsc';
import type { IdentityChange, Predictions, ProfileUpdate, StitchedEvent } from '../../schemas';
import type { IncomingMessage, EventProducer } from '../common/kafka/client';
import type { DeadLetterHandler, DeadLetterInput } from '../common/dead-letters';
import type { Logger } from '../common/logger';
import { KumikiError, errorMessage } from '../common/errors';
import { applyMerges, idsOfMerges, resolveProfile, type Merge } from './alias-map';
import {
  encodeEventRows,
  UPDATE_TRAITS_BYTES,
  type ProfileRepository,
  type ProfileSnapshot,
} from './profile.repository';
import type { EncodedRows } from '../common/clickhouse/encoded-rows';
import type { RfmRow } from './rfm/rfm';
import {
  identityRowOfEvent,
  rowsOfChange,
  toEventRow,
  type EventRow,
  type IdentityLinkRow,
  type IdentityRow,
} from './store-rows';
import type { MaterializerMetrics } from './materializer.metrics';
import { partitionKey, type ReplayWindow } from './replay-window';

/**
 * Consumed records → ClickHouse → profile updates, in two phases (writeChunk, refreshProfiles).
 *
 * Why it is safe to repeat: every write is idempotent (see profile.repository.ts), so when
 * anything fails the caller does not commit and the whole batch is read and written again.
 * Profile snapshots are computed from ClickHouse *after* the rows are in, so they include
 * everything written so far, in any order of arrival (late events, merges before or after the
 * events they concern). RFM is the latest RFM snapshot's: orders reach ProfileUpdates with the
 * next one, which republishes the profiles whose figures it changed (rfm/rfm-snapshot.ts). The
 * caller commits offsets only after both phases resolved, i.e. after ClickHouse confirmed every
 * insert and Kafka acknowledged every ProfileUpdate and dead letter.
 */
export interface MaterializeDeps {
  readonly repository: ProfileRepository;
  /** At once when the writer schema is known, else a promise that fetches it (AvroCodec.decodeNowOrLater). */
  readonly decode: <T>(buffer: Buffer, reader: avro.Type) => { value: T } | Promise<{ value: T }>;
  readonly encode: (topic: string, value: unknown) => Buffer;
  readonly readers: { readonly stitched: avro.Type; readonly change: avro.Type };
  /**
   * The RFM rows ProfileUpdates carry: the latest snapshot's, as the rfm view shows them (a
   * primary-key read, however many purchasers there are; see docs/rfm.md).
   */
  readonly readRfm: (profileIds: readonly string[]) => Promise<Map<string, RfmRow>>;
  /** The predictions ProfileUpdates carry: the latest model version's (a primary-key read; predictions/). */
  readonly readPredictions?: (profileIds: readonly string[]) => Promise<Map<string, Predictions>>;
  readonly producer: Pick<EventProducer, 'send'>;
  readonly deadLetters: Pick<DeadLetterHandler, 'send'>;
  readonly topics: { readonly stitched: string; readonly changes: string; readonly updates: string };
  readonly logger: Logger;
  readonly metrics?: MaterializerMetrics;
  /** With `metrics`: which partitions may be replaying, whose events are counted as dedup hits (see ReplayWindow). */
  readonly replays?: ReplayWindow;
  readonly now?: () => number;
  /** Called once the profile updates of chunks with orders, refunds or merges are out (RFM snapshot refresh). */
  readonly rfmInputsChanged?: () => void;
  /** Runs publishes one at a time (see publishProfileUpdates); shared by every path that publishes ProfileUpdates. */
  readonly exclusive?: Exclusive;
}

/** Runs tasks one at a time, in the order they were handed over. */
export type Exclusive = <T>(task: () => Promise<T>) => Promise<T>;

export function createExclusive(): Exclusive {
  let tail: Promise<unknown> = Promise.resolve();
  return (task) => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
}

export interface BatchOutcome {
  readonly events: number;
  readonly changes: number;
  readonly deadLettered: number;
  readonly updates: number;
}

/** What a written chunk leaves for the profile refresh: who was touched, who was merged away. */
export interface WrittenChunk {
  readonly events: number;
  readonly changes: number;
  readonly deadLettered: number;
  /** Profile ids as the records named them (resolved to survivors at refresh time). */
  readonly touched: ReadonlySet<string>;
  /** Absorbed profile → its survivor after this chunk's merges. */
  readonly absorbed: ReadonlyMap<string, string>;
  /** The chunk held order, revenue or merge data, so the RFM snapshot is due for a refresh. */
  readonly changesRfm: boolean;
}

/** Both phases at once: one chunk written, then its profiles refreshed. */
export async function materializeBatch(
  messages: readonly IncomingMessage[],
  deps: MaterializeDeps,
): Promise<BatchOutcome> {
  const written = await writeChunk(messages, deps);
  const updates = await refreshProfiles([written], deps);
  return { events: written.events, changes: written.changes, deadLettered: written.deadLettered, updates };
}

/** A chunk decoded into rows, not yet written (phase 1a). */
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
  readonly deadLetters: readonly DeadLetterInput[];
  readonly changes: number;
  /** The partitions its records came from (partitionKey). */
  readonly partitions: ReadonlySet<string>;
}

/**
 * Phase 1, per chunk of `batchSize` records: decode, write every row (idempotently), flatten
 * merges into profile_aliases, dead-letter what cannot be decoded. Resolves once ClickHouse
 * confirmed the inserts and Kafka acknowledged the dead letters.
 */
export async function writeChunk(messages: readonly IncomingMessage[], deps: MaterializeDeps): Promise<WrittenChunk> {
  return storeChunk(await prepareChunk(messages, deps), deps);
}

/** Records prepareChunk decodes before it lets the event loop run the other tasks waiting. */
const yieldEvery = 1_000;

/**
 * Phase 1a: decode the records into rows (CPU only, nothing written). Split from storeChunk so
 * the consumer can decode the next chunk while ClickHouse is still inserting this one.
 */
export async function prepareChunk(
  messages: readonly IncomingMessage[],
  deps: Pick<MaterializeDeps, 'decode' | 'readers' | 'topics'>,
): Promise<PreparedChunk> {
  const eventRows: EventRow[] = [];
  const identityRows = new Map<string, IdentityRow>();
  const linkRows: IdentityLinkRow[] = [];
  const merges: Merge[] = [];
  const touched = new Set<string>();
  const deadLetters: DeadLetterInput[] = [];
  const partitions = new Set<string>();
  let changes = 0;
  // One identities row per identifier and chunk: the highest version is the one FINAL keeps anyway.
  // The row is built only when it is kept (most events repeat identifiers the chunk already has).
  const addIdentity = (type: string, value: string, version: number, row: () => IdentityRow): void => {
    const key = `${type}\u0000${value}`;
    const current = identityRows.get(key);
    if (!current || version > current.version) identityRows.set(key, row());
  };

  let sinceYield = 0;
  for (const message of messages) {
    // Decoding a chunk takes ~10 ms per 1,000 records on the main thread; a profile refresh
    // runs beside it, and each of its steps would wait for the whole chunk otherwise.
    if (++sinceYield === yieldEvery) {
      sinceYield = 0;
      await new Promise(setImmediate);
    }
    partitions.add(partitionKey(message.topic, message.partition));
    if (message.value === null) continue; // a tombstone carries nothing to materialize
    try {
      if (message.topic === deps.topics.changes) {
        const decoding = deps.decode<IdentityChange>(message.value, deps.readers.change);
        const { value: change } = decoding instanceof Promise ? await decoding : decoding;
        changes += 1;
        const rows = rowsOfChange(change);
        for (const row of rows.identities)
          addIdentity(row.identifier_type, row.identifier_value, row.version, () => row);
        linkRows.push(...rows.links);
        if (change.kind === 'merge' && change.absorbedProfileIds.length > 0) {
          merges.push({
            survivor: change.profileId,
            absorbed: change.absorbedProfileIds,
            mergedAt: change.changedAt,
            messageId: change.messageId,
          });
        }
        if (change.kind !== 'refused') touched.add(change.profileId);
      } else {
        // No await per record once the schema is known: a promise and a microtask turn each.
        const decoding = deps.decode<StitchedEvent>(message.value, deps.readers.stitched);
        const { value: record } = decoding instanceof Promise ? await decoding : decoding;
        eventRows.push(toEventRow(record));
        for (const identifier of record.identifiers)
          addIdentity(identifier.type, identifier.value, record.stitchedAt, () =>
            identityRowOfEvent(record, identifier),
          );
        touched.add(record.profileId);
      }
    } catch (error) {
      // Only decoding can fail here, and only for bytes no reader can use: dead-letter them.
      deadLetters.push({
        reason: `cannot decode a ${message.topic === deps.topics.changes ? 'IdentityChange' : 'StitchedEvent'}: ${errorMessage(error)}`,
        code: 'KUMIKI_INVALID_EVENT',
        stage: 'decode-record',
        error,
        originalTopic: message.topic,
        originalPartition: message.partition,
        originalOffset: message.offset,
        originalKey: message.key,
        originalValue: message.value,
      });
    }
  }
  return {
    size: messages.length,
    events: encodeEventRows(eventRows),
    messageIds: eventRows.map((row) => row.message_id),
    hasOrders: eventRows.some((row) => row.order_id !== '' || row.revenue !== null),
    identityRows: [...identityRows.values()],
    linkRows,
    merges,
    touched,
    deadLetters,
    changes,
    partitions,
  };
}

/** Phase 1b: write a prepared chunk; resolves once ClickHouse confirmed and Kafka acknowledged the dead letters. */
export async function storeChunk(chunk: PreparedChunk, deps: MaterializeDeps): Promise<WrittenChunk> {
  const now = deps.now ?? Date.now;
  const { events, identityRows, linkRows, merges, deadLetters } = chunk;
  const started = now();
  if (events.count > 0 && deps.metrics && deps.replays?.isOpen(chunk.partitions)) {
    const hits = await deps.repository.countExistingEvents(chunk.messageIds);
    deps.metrics.dedupHits.inc(hits);
    if (hits === 0) deps.replays.close(chunk.partitions);
  }
  // The inserts go to different tables and none reads another's rows, so they run at once
  // (embedded: on separate chDB sessions of the pool); the chunk is durable when all resolved.
  // Profile facts and statements are written by ClickHouse with the events (views, 0009).
  const [, identitiesWritten] = await Promise.all([
    deps.repository.writeEvents(events),
    deps.repository.writeIdentities(identityRows),
    deps.repository.writeLinks(linkRows),
  ]);

  // Merges: flatten against the current alias map, then write the rows that changed.
  const absorbed = new Map<string, string>();
  if (merges.length > 0) {
    const aliases = await deps.repository.loadAliases(idsOfMerges(merges));
    const aliasChanges = applyMerges(aliases, merges);
    await deps.repository.writeAliases(aliasChanges);
    for (const merge of merges) for (const id of merge.absorbed) absorbed.set(id, resolveProfile(aliases, id));
    for (const change of aliasChanges) absorbed.set(change.absorbed, change.survivor);
    // Every member of a merged group gets its mergedInto again, not only those the rows written
    // now moved: a batch written before a crash and read again finds its aliases already
    // flattened, and a profile absorbed into the absorbed one would keep naming it for good.
    const targets = new Set(merges.map((merge) => resolveProfile(aliases, merge.survivor)));
    for (const [id, survivor] of aliases) if (targets.has(survivor)) absorbed.set(id, survivor);
    deps.metrics?.rowsWritten.inc({ table: 'profile_aliases_store' }, aliasChanges.length);
  }
  await deps.deadLetters.send(deadLetters);
  deps.metrics?.insertSeconds.observe((now() - started) / 1000);
  deps.metrics?.rowsWritten.inc({ table: 'events_store' }, events.count);
  deps.metrics?.rowsWritten.inc({ table: 'identities_store' }, identitiesWritten);
  deps.metrics?.rowsWritten.inc({ table: 'identity_links_store' }, linkRows.length);
  deps.metrics?.batchSize.observe(chunk.size);
  const changesRfm = merges.length > 0 || chunk.hasOrders;
  return {
    events: events.count,
    changes: chunk.changes,
    deadLettered: deadLetters.length,
    touched: chunk.touched,
    absorbed,
    changesRfm,
  };
}

/**
 * Phase 2, once per consumed Kafka batch (all its chunks): snapshot every touched surviving
 * profile from ClickHouse, read its RFM, and publish one ProfileUpdate per profile (and one
 * `mergedInto` record per absorbed profile). Resolves once Kafka acknowledged them. Done once
 * per batch rather than per chunk because its cost is per profile, not per event.
 */
export async function refreshProfiles(chunks: readonly WrittenChunk[], deps: MaterializeDeps): Promise<number> {
  const touched = new Set(chunks.flatMap((c) => [...c.touched]));
  const absorbed = new Map(chunks.flatMap((c) => [...c.absorbed]));
  if (touched.size === 0 && absorbed.size === 0) return 0;
  const published = await publishProfileUpdates([...touched], deps, absorbed);
  if (chunks.some((c) => c.changesRfm)) deps.rfmInputsChanged?.();
  return published;
}

/**
 * Snapshots the current survivors of `profileIds` (an absorbed id stands for the profile it
 * was merged into), reads their RFM and segments, and publishes a ProfileUpdate for each, plus
 * a `mergedInto` record per entry of `absorbed` (absorbed → its survivor at merge time,
 * resolved again here); resolves with how many once Kafka acknowledged them.
 *
 * ORDER. Several paths publish ProfileUpdates of one profile (the consumer's refresh, RFM
 * snapshots, segment changes), each reading state at one moment and sending later. On a
 * compacted topic the last record sent wins, so every read-and-send runs under
 * `deps.exclusive`: a publish that starts after another finished reads state at least as new
 * (aliases included), so the last record of a profile is built from the newest state (its
 * current segments included). The consumer waits at most for the one publish under way, which
 * background paths keep to a bounded chunk of profiles.
 */
export function publishProfileUpdates(
  profileIds: readonly string[],
  deps: MaterializeDeps,
  absorbed: ReadonlyMap<string, string> = new Map(),
): Promise<number> {
  const exclusive = deps.exclusive ?? ((task) => task());
  return exclusive(async () => {
    const now = deps.now ?? Date.now;
    const aliases = await deps.repository.loadAliasGroups([...profileIds, ...absorbed.values()]);
    const mergedInto = new Map([...absorbed].map(([id, survivor]) => [id, resolveProfile(aliases, survivor)]));
    const survivors = [...new Set(profileIds.map((id) => resolveProfile(aliases, id)))]
      .filter((id) => !mergedInto.has(id))
      .sort();
    const snapshots = await deps.repository.readSnapshots(survivors, aliases);
    for (const { profileId, updateTraits } of snapshots) {
      if (!updateTraits) continue;
      deps.metrics?.traitsLeftOut.inc(updateTraits.leftOut);
      deps.logger.warn(
        { profileId, leftOut: updateTraits.leftOut, maxBytes: UPDATE_TRAITS_BYTES },
        'traits above the ProfileUpdate bound: the keys set longest ago are left out of it (kept in ClickHouse)',
      );
    }
    // profiles_store takes the snapshots while their RFM and segments are read and the updates
    // sent: nothing below reads profiles_store, and the publish is done once both are.
    const stored = deps.repository.writeSnapshots(snapshots);
    const sent = (async () => {
      const asOf = now();
      const rfm =
        snapshots.length > 0 ? await deps.readRfm(snapshots.map((s) => s.profileId)) : new Map<string, RfmRow>();
      const segments = await deps.repository.segmentsOf(snapshots.map((s) => s.profileId));
      const predictions = (await deps.readPredictions?.(snapshots.map((s) => s.profileId))) ?? new Map();
      const updates: ProfileUpdate[] = [
        ...snapshots.map((s) =>
          toProfileUpdate(
            s,
            rfm.get(s.profileId) ?? null,
            segments.get(s.profileId) ?? [],
            asOf,
            predictions.get(s.profileId) ?? null,
          ),
        ),
        ...[...mergedInto].map(([profileId, survivor]) => mergedProfileUpdate(profileId, survivor, asOf)),
      ];
      await deps.producer.send(
        deps.topics.updates,
        updates.map((update) => ({ key: update.profileId, value: deps.encode(deps.topics.updates, update) })),
      );
      return updates.length;
    })();
    // Both settle before the next publish may start (see ORDER above), failed or not.
    const [written, published] = await Promise.allSettled([stored, sent]);
    if (written.status === 'rejected') throw written.reason;
    if (published.status === 'rejected') throw published.reason;
    deps.metrics?.profileUpdates.inc(published.value);
    return published.value;
  });
}

/** Why profiles are published again without an event of their own. */
export type RepublishReason = 'rfm' | 'segments' | 'predictions';

/** A republish did not finish; the profiles it did not publish are kept for the next one. */
export class ProfileRepublishError extends KumikiError {
  readonly isRetriable = true;
}

/**
 * Publishes fresh ProfileUpdates for profiles that changed without an event of their own (RFM
 * scores moved in a snapshot, segment membership changed), in chunks of `chunkSize` so a
 * million of them never sit in memory at once and the consumer never waits for more than one
 * chunk (see publishProfileUpdates). A merged-away id gets its survivor published, never a
 * record of its own: its `mergedInto` record was published with the merge and must stay its last one.
 *
 * A failed chunk rejects with ProfileRepublishError; its profiles and the ones after it are kept
 * and published first by the next call, whatever its reason (the next occasion).
 */
export function createProfileRepublisher(
  options: { readonly chunkSize?: number } = {},
): (profileIds: readonly string[], deps: MaterializeDeps, reason: RepublishReason) => Promise<number> {
  const chunkSize = options.chunkSize ?? 5_000;
  const failed = new Set<string>();
  return async (profileIds, deps, reason) => {
    const ids = [...new Set([...failed, ...profileIds])].sort();
    failed.clear();
    let published = 0;
    for (let i = 0; i < ids.length; i += chunkSize) {
      const chunk = ids.slice(i, i + chunkSize);
      try {
        const count = await publishProfileUpdates(chunk, deps);
        deps.metrics?.profilesRepublished.inc({ reason }, count);
        published += count;
      } catch (error) {
        for (const id of ids.slice(i)) failed.add(id);
        deps.metrics?.republishFailures.inc({ reason });
        throw new ProfileRepublishError(
          `republishing profiles failed (${reason}): ${errorMessage(error)}`,
          { reason, published, pending: failed.size },
          { cause: error },
        );
      }
    }
    return published;
  };
}

export function toProfileUpdate(
  snapshot: ProfileSnapshot,
  rfm: RfmRow | null,
  segments: readonly string[],
  updatedAt: number,
  predictions: Predictions | null = null,
): ProfileUpdate {
  return {
    profileId: snapshot.profileId,
    mergedInto: null,
    traits: snapshot.updateTraits?.text ?? snapshot.traits,
    identifiers: snapshot.identifiers,
    rfm: rfm
      ? {
          lastPurchaseAt: rfm.lastPurchaseAt,
          recencyDays: rfm.recencyDays,
          frequency: rfm.frequency,
          monetary: rfm.monetary,
          r: rfm.r,
          f: rfm.f,
          m: rfm.m,
          label: rfm.label,
        }
      : null,
    consent: snapshot.consent,
    segments: [...segments],
    firstSeen: snapshot.firstSeen,
    lastSeen: snapshot.lastSeen,
    updatedAt,
    predictions,
  };
}

export function mergedProfileUpdate(profileId: string, mergedInto: string, updatedAt: number): ProfileUpdate {
  return {
    profileId,
    mergedInto,
    traits: '{}',
    identifiers: [],
    rfm: null,
    consent: {},
    segments: [],
    firstSeen: null,
    lastSeen: null,
    updatedAt,
    predictions: null,
  };
}
