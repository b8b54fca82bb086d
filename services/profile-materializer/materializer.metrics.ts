import { Counter, Histogram, type Registry } from '../common/metrics';

/** What /metrics shows of the materializer's data path. */
export interface MaterializerMetrics {
  readonly rowsWritten: Counter<'table'>;
  readonly batchSize: Histogram;
  readonly insertSeconds: Histogram;
  readonly dedupHits: Counter;
  readonly profileUpdates: Counter;
  /** ProfileUpdates of profiles that changed without an event of their own (reason: rfm, segments). */
  readonly profilesRepublished: Counter<'reason'>;
  readonly republishFailures: Counter<'reason'>;
  /** Trait keys left out of ProfileUpdates whose traits passed UPDATE_TRAITS_BYTES. */
  readonly traitsLeftOut: Counter;
  readonly batchSeconds: Histogram;
}

export function createMaterializerMetrics(registry: Registry): MaterializerMetrics {
  return {
    rowsWritten: new Counter({
      name: 'kumiki_materializer_rows_written_total',
      help: 'Rows inserted into ClickHouse, by table',
      labelNames: ['table'],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'kumiki_materializer_batch_messages',
      help: 'Kafka records per materialized batch',
      buckets: [1, 10, 100, 500, 1000, 5000, 20000],
      registers: [registry],
    }),
    insertSeconds: new Histogram({
      name: 'kumiki_materializer_insert_seconds',
      help: 'Time to insert one batch into ClickHouse',
      buckets: [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    dedupHits: new Counter({
      name: 'kumiki_materializer_dedup_hits_total',
      help: 'Replayed events (after a restart or a crash before commit) whose message_id was already stored',
      registers: [registry],
    }),
    profileUpdates: new Counter({
      name: 'kumiki_materializer_profile_updates_total',
      help: 'ProfileUpdate records produced',
      registers: [registry],
    }),
    profilesRepublished: new Counter({
      name: 'kumiki_materializer_profiles_republished_total',
      help: 'ProfileUpdates produced for profiles whose RFM (a new snapshot) or segments changed without an event of theirs, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    republishFailures: new Counter({
      name: 'kumiki_materializer_republish_failures_total',
      help: 'Republishes of changed profiles that failed (their profiles go with the next one), by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    traitsLeftOut: new Counter({
      name: 'kumiki_materializer_update_traits_left_out_total',
      help: 'Trait keys (those set longest ago) left out of ProfileUpdates whose traits passed 512 KiB; ClickHouse keeps them',
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'kumiki_materializer_batch_seconds',
      help: 'Time from batch start to committed offsets',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}
