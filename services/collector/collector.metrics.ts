import { Counter, Gauge, Histogram, type Registry } from '../common/metrics';

/** The collector's Prometheus metrics (issue 3, "Ops"). */
export function createCollectorMetrics(registry: Registry) {
  return {
    requests: new Counter({
      name: 'kumiki_collector_requests_total',
      help: 'HTTP tracking requests by route and status',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
    events: new Counter({
      name: 'kumiki_collector_events_total',
      help: 'Events accepted (acknowledged by Kafka) by call type',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    rejects: new Counter({
      name: 'kumiki_collector_rejects_total',
      help: 'Rejected requests (level=request) and rejected events of accepted requests (level=event), by error code',
      labelNames: ['code', 'level'] as const,
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'kumiki_dead_letters_total',
      help: 'Dead letters written, by code and stage',
      labelNames: ['code', 'stage'] as const,
      registers: [registry],
    }),
    produceSeconds: new Histogram({
      name: 'kumiki_collector_produce_seconds',
      help: 'Time from a produce call to Kafka acknowledging it (acks=all)',
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    produceBatchSize: new Histogram({
      name: 'kumiki_collector_produce_batch_messages',
      help: 'Messages per produce call (batching across requests)',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000],
      registers: [registry],
    }),
    inFlightRequests: new Gauge({
      name: 'kumiki_collector_requests_in_flight',
      help: 'HTTP tracking requests being handled',
      registers: [registry],
    }),
    pendingBytes: new Gauge({
      name: 'kumiki_collector_pending_bytes',
      help: 'Event bytes queued or awaiting Kafka acknowledgement',
      registers: [registry],
    }),
  };
}

export type CollectorMetrics = ReturnType<typeof createCollectorMetrics>;
