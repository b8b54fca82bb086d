import { Counter, Gauge, Histogram, type Registry } from '../common/metrics';

/** What /metrics shows of the activator. Labelled by destination id: destinations are few. */
export interface ActivatorMetrics {
  /** Changes finished, by outcome: delivered, dead_lettered, withheld (consent), skipped (not subscribed). */
  readonly changes: Counter<'destination' | 'outcome'>;
  /** Attempts by answer class: 2xx, 3xx, 4xx, 5xx, none. */
  readonly attempts: Counter<'destination' | 'answer'>;
  readonly withheld: Counter<'destination' | 'reason'>;
  readonly attemptSeconds: Histogram<'destination'>;
  /** From the change (segment evaluation, profile update) to its delivery. */
  readonly changeToDeliveredSeconds: Histogram<'destination'>;
  readonly pending: Gauge<'destination'>;
  readonly paused: Gauge<'destination'>;
  readonly profiles: Gauge;
  readonly exports: Counter<'destination' | 'outcome'>;
}

export function createActivatorMetrics(registry: Registry): ActivatorMetrics {
  return {
    changes: new Counter({
      name: 'kumiki_activator_changes_total',
      help: 'Changes finished per destination, by outcome (delivered, dead_lettered, withheld, skipped)',
      labelNames: ['destination', 'outcome'],
      registers: [registry],
    }),
    attempts: new Counter({
      name: 'kumiki_activator_attempts_total',
      help: 'Delivery attempts per destination, by answer class (2xx … 5xx, none)',
      labelNames: ['destination', 'answer'],
      registers: [registry],
    }),
    withheld: new Counter({
      name: 'kumiki_activator_withheld_total',
      help: 'Changes not delivered for lack of consent (or of a known profile), by reason',
      labelNames: ['destination', 'reason'],
      registers: [registry],
    }),
    attemptSeconds: new Histogram({
      name: 'kumiki_activator_attempt_seconds',
      help: 'Time of one attempt, request to answer',
      labelNames: ['destination'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    changeToDeliveredSeconds: new Histogram({
      name: 'kumiki_activator_change_to_delivered_seconds',
      help: 'From the change (segment evaluation or profile update) to its delivery',
      labelNames: ['destination'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
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

type Child = { inc(value?: number): void } | { observe(value: number): void };

/**
 * The metrics of one destination as bound children, so the hot path does not hash label sets
 * on every message (prom-client's `labels()` is memoised here per destination and label value).
 */
export class DestinationMetrics {
  private readonly children = new Map<string, Child>();

  constructor(
    private readonly metrics: ActivatorMetrics,
    private readonly destination: string,
  ) {}

  changed(outcome: 'delivered' | 'dead_lettered' | 'withheld' | 'skipped'): void {
    this.counter('changes', outcome, () => this.metrics.changes.labels(this.destination, outcome)).inc();
  }

  withheld(reason: string): void {
    this.counter('withheld', reason, () => this.metrics.withheld.labels(this.destination, reason)).inc();
  }

  attempt(answer: string, seconds: number): void {
    this.counter('attempts', answer, () => this.metrics.attempts.labels(this.destination, answer)).inc();
    this.histogram('attempt', '', () => this.metrics.attemptSeconds.labels(this.destination)).observe(seconds);
  }

  delivered(ageSeconds: number): void {
    this.changed('delivered');
    this.histogram('age', '', () => this.metrics.changeToDeliveredSeconds.labels(this.destination)).observe(ageSeconds);
  }

  private counter(
    name: string,
    value: string,
    make: () => { inc(value?: number): void },
  ): { inc(value?: number): void } {
    const key = `${name}|${value}`;
    let child = this.children.get(key) as { inc(value?: number): void } | undefined;
    if (!child) this.children.set(key, (child = make()));
    return child;
  }

  private histogram(
    name: string,
    value: string,
    make: () => { observe(value: number): void },
  ): { observe(value: number): void } {
    const key = `${name}|${value}`;
    let child = this.children.get(key) as { observe(value: number): void } | undefined;
    if (!child) this.children.set(key, (child = make()));
    return child;
  }
}
