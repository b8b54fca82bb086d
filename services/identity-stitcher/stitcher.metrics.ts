import { Counter, Gauge, Histogram, type Registry } from '../common/metrics';
import type { ResultHandler } from '../common/result-handler';
import type { Resolution } from './identity/identity-graph';
import type { StitchedBatch } from './stitched-batch';

/** The identity stitcher's Prometheus metrics (events/s is `rate(kumiki_stitcher_events_total[1m])`). */
export interface StitcherMetrics {
  readonly events: Counter<'topic' | 'outcome'>;
  readonly links: Counter;
  readonly merges: Counter;
  readonly profilesCreated: Counter;
  readonly refusals: Counter<'reason'>;
  readonly deadLetters: Counter<'code' | 'stage'>;
  readonly graphIdentifiers: Gauge;
  readonly graphProfiles: Gauge;
  readonly consumerLag: Gauge<'topic' | 'partition'>;
  readonly transactionSeconds: Histogram;
  readonly transactionEvents: Histogram;
  readonly restoreSeconds: Gauge;
  readonly restoredRecords: Gauge;
  readonly recoveries: Counter;
  readonly privacyRequests: Counter<'type' | 'outcome'>;
  readonly rememberedIdentifiers: Gauge<'kind'>;
}

export function createStitcherMetrics(registry: Registry): StitcherMetrics {
  const registers = [registry];
  return {
    events: new Counter({
      name: 'kumiki_stitcher_events_total',
      help: 'Input records by topic and outcome (stitched, dlq, drop).',
      labelNames: ['topic', 'outcome'],
      registers,
    }),
    links: new Counter({ name: 'kumiki_identity_links_total', help: 'Identifiers linked to a profile.', registers }),
    merges: new Counter({
      name: 'kumiki_identity_merges_total',
      help: 'Profiles merged into an older one.',
      registers,
    }),
    profilesCreated: new Counter({
      name: 'kumiki_identity_profiles_created_total',
      help: 'Profiles created.',
      registers,
    }),
    refusals: new Counter({
      name: 'kumiki_identity_refusals_total',
      help: 'Links refused, by the limit they would have broken (limit:<type>).',
      labelNames: ['reason'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'kumiki_stitcher_dead_letters_total',
      help: 'Records sent to the DLQ, by code and stage.',
      labelNames: ['code', 'stage'],
      registers,
    }),
    graphIdentifiers: new Gauge({
      name: 'kumiki_identity_graph_identifiers',
      help: 'Identifiers in the in-memory graph.',
      registers,
    }),
    graphProfiles: new Gauge({
      name: 'kumiki_identity_graph_profiles',
      help: 'Live profiles in the in-memory graph.',
      registers,
    }),
    consumerLag: new Gauge({
      name: 'kumiki_stitcher_consumer_lag',
      help: 'Records behind the end of each input partition, after the last batch.',
      labelNames: ['topic', 'partition'],
      registers,
    }),
    transactionSeconds: new Histogram({
      name: 'kumiki_stitcher_transaction_seconds',
      help: 'Time from beginning to committing one transaction.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    transactionEvents: new Histogram({
      name: 'kumiki_stitcher_transaction_events',
      help: 'Input records per transaction.',
      buckets: [1, 10, 100, 500, 1000, 5000, 20000],
      registers,
    }),
    restoreSeconds: new Gauge({
      name: 'kumiki_identity_graph_restore_seconds',
      help: 'Time the last start-up took to rebuild the graph.',
      registers,
    }),
    restoredRecords: new Gauge({
      name: 'kumiki_identity_graph_restored_records',
      help: 'Changelog records read at the last start-up.',
      registers,
    }),
    recoveries: new Counter({
      name: 'kumiki_stitcher_recoveries_total',
      help: 'Rebuilds from Kafka after a failed transaction.',
      registers,
    }),
    privacyRequests: new Counter({
      name: 'kumiki_privacy_requests_resolved_total',
      help: 'Privacy requests the stitcher carried out in the graph, by type and outcome (found, not_found, already_erased, invalid).',
      labelNames: ['type', 'outcome'],
      registers,
    }),
    rememberedIdentifiers: new Gauge({
      name: 'kumiki_privacy_remembered_identifiers',
      help: 'Keyed hashes of identifiers remembered, by kind (erased, suppressed).',
      labelNames: ['kind'],
      registers,
    }),
  };
}

/** What one record's resolution did to the graph. */
export function countResolution(
  metrics: Pick<StitcherMetrics, 'profilesCreated' | 'merges' | 'links' | 'refusals'>,
  resolution: Resolution,
): void {
  if (resolution.createdProfile) metrics.profilesCreated.inc();
  if (resolution.mergedProfileIds.length > 0) metrics.merges.inc(resolution.mergedProfileIds.length);
  const linked = resolution.changes.find((c) => c.kind === 'link');
  if (linked) metrics.links.inc(linked.identifiers.length);
  for (const refusal of resolution.refusals) metrics.refusals.inc({ reason: `limit:${refusal.limitType}` });
}

/** A batch's outcomes, once its transaction committed, and how far behind its partition's end it was. */
export function countCommitted(
  metrics: Pick<StitcherMetrics, 'events' | 'consumerLag' | 'privacyRequests'>,
  results: Pick<ResultHandler, 'dropped'>,
  batch: StitchedBatch,
  highWatermark: string,
): void {
  const { topic } = batch;
  metrics.events.inc({ topic, outcome: 'stitched' }, batch.stitchedCount);
  if (batch.rejections.length > 0) metrics.events.inc({ topic, outcome: 'dlq' }, batch.rejections.length);
  let dropped = 0;
  for (const [step, count] of batch.drops) {
    results.dropped(step, count);
    dropped += count;
  }
  if (dropped > 0) metrics.events.inc({ topic, outcome: 'drop' }, dropped);
  for (const carriedOut of batch.privacyRequests) metrics.privacyRequests.inc({ ...carriedOut });
  metrics.consumerLag.set(
    { topic, partition: String(batch.partition) },
    Math.max(0, Number(BigInt(highWatermark) - BigInt(batch.nextOffset))),
  );
}
