import { applyMerges, idsOfMerges, resolveProfile } from './alias-map';
import type { MaterializeDeps } from './materialize-deps';
import type { PreparedChunk } from './prepare-chunk';
import { encodeEventRows } from './profile.repository';
import { withholdUnconsented, writeWithheld } from './privacy/profiling-consent';

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

/** Phase 1b: write a prepared chunk; resolves once ClickHouse confirmed and Kafka acknowledged the dead letters. */
export async function storeChunk(chunk: PreparedChunk, deps: MaterializeDeps): Promise<WrittenChunk> {
  const now = deps.now ?? Date.now;
  const { identityRows, linkRows, merges, rejections } = chunk;
  let { events } = chunk;
  const started = now();
  // Decided here, not when decoding: the statements of the chunks before this one are stored by now.
  if (deps.profilingPurposes?.length && chunk.eventRows) {
    const { kept, withheld } = await withholdUnconsented(
      deps.repository.clickhouse,
      chunk.eventRows,
      deps.profilingPurposes,
    );
    events = encodeEventRows(kept);
    await writeWithheld(deps.repository.clickhouse, withheld);
    deps.metrics?.rowsWritten.inc({ table: 'unprofiled_events_store' }, withheld.length);
  }
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
  await deps.results.rejected(rejections);
  for (const [step, count] of chunk.drops) deps.results.dropped(step, count);
  deps.metrics?.insertSeconds.observe((now() - started) / 1000);
  deps.metrics?.rowsWritten.inc({ table: 'events_store' }, events.count);
  deps.metrics?.rowsWritten.inc({ table: 'identities_store' }, identitiesWritten);
  deps.metrics?.rowsWritten.inc({ table: 'identity_links_store' }, linkRows.length);
  deps.metrics?.batchSize.observe(chunk.size);
  const changesRfm = merges.length > 0 || chunk.hasOrders;
  return {
    events: events.count,
    changes: chunk.changes,
    deadLettered: rejections.length,
    touched: chunk.touched,
    absorbed,
    changesRfm,
  };
}
