import { createActivatorMetrics, destinationMetrics } from '../../../services/activator/activator.metrics';
import { Registry } from '../../../services/common/metrics';

describe("a destination's metrics", () => {
  it('shows every count made before /metrics is read, exactly, and one set per destination', async () => {
    const registry = new Registry();
    const metrics = createActivatorMetrics(registry);
    const crm = destinationMetrics(metrics, 'dst_crm');
    expect(destinationMetrics(metrics, 'dst_crm')).toBe(crm);

    crm.attempt('2xx', 0.004);
    crm.delivered(0.2);
    crm.attempt('5xx', 0.02);
    crm.withheld('no_consent');
    crm.changed('withheld');
    crm.delivered(0.3);
    destinationMetrics(metrics, 'dst_ads').changed('skipped');

    const read = async (): Promise<string> => registry.metrics();
    let text = await read();
    expect(text).toContain('kumiki_activator_changes_total{destination="dst_crm",outcome="delivered"} 2');
    expect(text).toContain('kumiki_activator_changes_total{destination="dst_crm",outcome="withheld"} 1');
    expect(text).toContain('kumiki_activator_changes_total{destination="dst_ads",outcome="skipped"} 1');
    expect(text).toContain('kumiki_activator_attempts_total{destination="dst_crm",answer="2xx"} 1');
    expect(text).toContain('kumiki_activator_attempts_total{destination="dst_crm",answer="5xx"} 1');
    expect(text).toContain('kumiki_activator_withheld_total{destination="dst_crm",reason="no_consent"} 1');
    expect(text).toContain('kumiki_activator_attempt_seconds_count{destination="dst_crm"} 2');
    expect(text).toContain('kumiki_activator_change_to_delivered_seconds_count{destination="dst_crm"} 2');

    // Counted once: a second read adds only what came since.
    crm.delivered(0.1);
    text = await read();
    expect(text).toContain('kumiki_activator_changes_total{destination="dst_crm",outcome="delivered"} 3');
    expect(text).toContain('kumiki_activator_attempts_total{destination="dst_crm",answer="2xx"} 1');
  });
});
