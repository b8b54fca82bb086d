import type { Registry } from '../common/metrics';

/** One label value's histogram: bucket counts (not cumulative), sum and count. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i += 1;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

interface MetricValue {
  readonly labels: Record<string, string | number>;
  /** The series' own label, written after the registry's default labels (as prom-client does). */
  readonly sharedLabels: Record<string, string>;
  readonly value: number;
  readonly metricName: string;
}

/**
 * A Prometheus histogram with one label, whose series are plain numbers: `observe` on a series
 * costs a few comparisons, where prom-client's hashes and checks its label set on every call (two
 * observations per delivery). The registry reads it like its own histograms (`get`), with the
 * same `_bucket` (cumulative, `le`), `_sum` and `_count` lines.
 */
export class LabelledHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: L,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The series of one label value, made on first use. */
  labels(value: string): HistogramSeries {
    let series = this.series.get(value);
    if (!series) this.series.set(value, (series = new HistogramSeries(this.buckets)));
    return series;
  }

  remove(value: string): void {
    this.series.delete(value);
  }

  reset(): void {
    this.series.clear();
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    for (const [label, series] of this.series) {
      const sharedLabels = { [this.labelName]: label };
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += series.counts[i]!;
        values.push({
          labels: { le: this.buckets[i]! },
          sharedLabels,
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels, value: series.count, metricName: `${this.name}_bucket` });
      values.push({ labels: {}, sharedLabels, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels, value: series.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
