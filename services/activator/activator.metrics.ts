import { Counter, Gauge, type Registry } from '../common/metrics';
import { type HistogramSeries, LabelledHistogram } from './labelled-histogram';

/** What /metrics shows of the activator. Labelled by destination id: destinations are few. */
export interface ActivatorMetrics {
  /** Changes finished, by outcome: delivered, dead_lettered, withheld (consent), skipped (not subscribed). */
  readonly changes: Counter<'destination' | 'outcome'>;
  /** Attempts by answer class: 2xx, 3xx, 4xx, 5xx, none. */
  readonly attempts: Counter<'destination' | 'answer'>;
  readonly withheld: Counter<'destination' | 'reason'>;
  readonly attemptSeconds: LabelledHistogram<'destination'>;
  /** From the change (segment evaluation, profile update) to its delivery. */
  readonly changeToDeliveredSeconds: LabelledHistogram<'destination'>;
  readonly pending: Gauge<'destination'>;
  readonly paused: Gauge<'destination'>;
  readonly profiles: Gauge;
  readonly exports: Counter<'destination' | 'outcome'>;
  /** Each destination's metrics, made once (`destinationMetrics`). */
  readonly destinations: Map<string, DestinationMetrics>;
}

export function createActivatorMetrics(registry: Registry): ActivatorMetrics {
  const destinations = new Map<string, DestinationMetrics>();
  // Counts made since the last scrape are added when /metrics is read.
  const collect = (): void => {
    for (const metrics of destinations.values()) metrics.flushCounts();
  };
  return {
    destinations,
    changes: new Counter({
      name: 'kumiki_activator_changes_total',
      help: 'Changes finished per destination, by outcome (delivered, dead_lettered, withheld, skipped)',
      labelNames: ['destination', 'outcome'],
      registers: [registry],
      collect,
    }),
    attempts: new Counter({
      name: 'kumiki_activator_attempts_total',
      help: 'Delivery attempts per destination, by answer class (2xx … 5xx, none)',
      labelNames: ['destination', 'answer'],
      registers: [registry],
      collect,
    }),
    withheld: new Counter({
      name: 'kumiki_activator_withheld_total',
      help: 'Changes not delivered for lack of consent (or of a known profile), by reason',
      labelNames: ['destination', 'reason'],
      registers: [registry],
      collect,
    }),
    attemptSeconds: new LabelledHistogram(
      'kumiki_activator_attempt_seconds',
      'Time of one attempt, request to answer',
      'destination',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registry,
    ),
    changeToDeliveredSeconds: new LabelledHistogram(
      'kumiki_activator_change_to_delivered_seconds',
      'From the change (segment evaluation or profile update) to its delivery',
      'destination',
      [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registry,
    ),
    pending: new Gauge({
      name: 'kumiki_activator_pending_changes',
      help: 'Changes held by a destination (in flight or waiting for a retry) on this instance',
      labelNames: ['destination'],
      registers: [registry],
    }),
    paused: new Gauge({
      name: 'kumiki_activator_destination_paused',
      help: '1 while a destination is paused',
      labelNames: ['destination'],
      registers: [registry],
    }),
    profiles: new Gauge({
      name: 'kumiki_activator_profiles',
      help: 'Profiles in the profile table (consent, identifiers, traits at send time)',
      registers: [registry],
    }),
    exports: new Counter({
      name: 'kumiki_activator_exports_total',
      help: 'Audience exports per destination, by outcome',
      labelNames: ['destination', 'outcome'],
      registers: [registry],
    }),
  };
}

/** The metrics of one destination (one set per destination id, whatever its workers). */
export function destinationMetrics(metrics: ActivatorMetrics, destinationId: string): DestinationMetrics {
  let found = metrics.destinations.get(destinationId);
  if (!found) metrics.destinations.set(destinationId, (found = new DestinationMetrics(metrics, destinationId)));
  return found;
}

interface PendingCount {
  readonly child: { inc(value: number): void };
  count: number;
}

/**
 * The metrics of one destination, counted without prom-client on the hot path: prom-client's
 * bound children still hash their label set on every call. Counts add up in plain numbers and
 * reach the counters when /metrics is read (their `collect`); the histograms are plain numbers
 * too (labelled-histogram.ts).
 */
export class DestinationMetrics {
  /** Per counter, per label value. */
  private readonly counts = new Map<Counter<'destination' | string>, Map<string, PendingCount>>();
  private readonly attemptSeconds: HistogramSeries;
  private readonly ageSeconds: HistogramSeries;

  constructor(
    private readonly metrics: ActivatorMetrics,
    private readonly destination: string,
  ) {
    this.attemptSeconds = metrics.attemptSeconds.labels(destination);
    this.ageSeconds = metrics.changeToDeliveredSeconds.labels(destination);
  }

  changed(outcome: 'delivered' | 'dead_lettered' | 'withheld' | 'skipped'): void {
    this.count(this.metrics.changes, outcome);
  }

  withheld(reason: string): void {
    this.count(this.metrics.withheld, reason);
  }

  attempt(answer: string, seconds: number): void {
    this.count(this.metrics.attempts, answer);
    this.attemptSeconds.observe(seconds);
  }

  delivered(ageSeconds: number): void {
    this.changed('delivered');
    this.ageSeconds.observe(ageSeconds);
  }

  /** Adds the counts made since the last call to the counters. */
  flushCounts(): void {
    for (const byValue of this.counts.values())
      for (const pending of byValue.values()) {
        if (pending.count === 0) continue;
        pending.child.inc(pending.count);
        pending.count = 0;
      }
  }

  private count(counter: Counter<'destination' | string>, value: string): void {
    let byValue = this.counts.get(counter);
    if (!byValue) this.counts.set(counter, (byValue = new Map()));
    let pending = byValue.get(value);
    if (!pending) {
      const child = counter.labels(this.destination, value);
      // Made at 0 at once, so /metrics shows the series from its first count.
      child.inc(0);
      byValue.set(value, (pending = { child, count: 0 }));
    }
    pending.count += 1;
  }
}
