import { Counter, Histogram, type Registry } from '../../common/metrics';

/** The profile-materializer's privacy request metrics. */
export interface PrivacyMetrics {
  readonly requests: Counter<'type' | 'status'>;
  readonly seconds: Histogram<'type'>;
  readonly replayedRecordsDropped: Counter<'topic'>;
}

export function createPrivacyMetrics(registry: Registry): PrivacyMetrics {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'kumiki_privacy_requests_total',
      help: 'Privacy requests carried out to their end, by type and status (completed, failed).',
      labelNames: ['type', 'status'],
      registers,
    }),
    seconds: new Histogram({
      name: 'kumiki_privacy_request_seconds',
      help: 'Time from taking up a resolved privacy request to its completion.',
      labelNames: ['type'],
      buckets: [1, 5, 15, 60, 300, 900, 3600],
      registers,
    }),
    replayedRecordsDropped: new Counter({
      name: 'kumiki_privacy_replayed_records_dropped_total',
      help: 'Replayed records of erased people dropped on their way into ClickHouse, by topic kind.',
      labelNames: ['topic'],
      registers,
    }),
  };
}
