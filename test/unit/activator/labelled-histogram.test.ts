import { LabelledHistogram } from '../../../services/activator/labelled-histogram';
import { Histogram, Registry } from '../../../services/common/metrics';

describe('a labelled histogram counted in plain numbers', () => {
  it("reads exactly like prom-client's own histogram given the same observations", async () => {
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 1];
    const ours = new Registry();
    const theirs = new Registry();
    for (const registry of [ours, theirs]) registry.setDefaultLabels({ service: 'activator' });
    const histogram = new LabelledHistogram('h_seconds', 'Time of something', 'destination', buckets, ours);
    const reference = new Histogram({
      name: 'h_seconds',
      help: 'Time of something',
      labelNames: ['destination'],
      buckets,
      registers: [theirs],
    });
    const observations: Array<[string, number]> = [
      ['dst_a', 0.004],
      ['dst_a', 0.005],
      ['dst_a', 0.0051],
      ['dst_b', 0.3],
      ['dst_a', 2],
      ['dst_b', 0.05],
      ['dst_a', 0],
    ];
    for (const [destination, value] of observations) {
      histogram.labels(destination).observe(value);
      reference.labels(destination).observe(value);
    }

    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain('h_seconds_bucket{le="0.005",service="activator",destination="dst_a"} 3');
    expect(text).toContain('h_seconds_count{service="activator",destination="dst_b"} 2');

    histogram.remove('dst_b');
    reference.remove({ destination: 'dst_b' });
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });
});
