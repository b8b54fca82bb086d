import { identifiersOf } from '../../chaos/identity-components';
import { generateWorkload, type Action } from '../../chaos/workload';

const anchor = Date.UTC(2026, 5, 1);

describe('the chaos workload', () => {
  const workload = generateWorkload(7, { people: 200, anchor });
  const sent = workload.deliveries.flatMap((delivery) => delivery.actions);
  const distinct = new Map<string, Action>(sent.map((action) => [action.messageId, action]));

  it('is the same for the same seed and differs for another', () => {
    const again = generateWorkload(7, { people: 200, anchor });
    expect(again.deliveries).toEqual(workload.deliveries);
    const other = generateWorkload(8, { people: 200, anchor });
    expect(other.deliveries).not.toEqual(workload.deliveries);
  });

  it('sends through every door, in order of due time', () => {
    const doors = new Set(workload.deliveries.map((delivery) => delivery.door));
    expect([...doors].sort()).toEqual(['avro', 'http', 'import', 'json']);
    const dues = workload.deliveries.map((delivery) => delivery.due);
    expect(dues).toEqual([...dues].sort((a, b) => a - b));
    expect(dues[0]).toBeGreaterThanOrEqual(0);
    expect(dues.at(-1)).toBeLessThanOrEqual(1);
    expect(new Set(workload.deliveries.filter((d) => d.door === 'import').map((d) => d.file))).toEqual(
      new Set(['store-purchases', 'crm-contacts']),
    );
  });

  it('gives every event one distinct time, and repeats some messageIds on purpose', () => {
    expect(distinct.size).toBe(workload.messageIds.size);
    const times = [...distinct.values()].map((action) => action.timestamp);
    expect(new Set(times).size).toBe(times.length);
    expect(sent.length).toBeGreaterThan(distinct.size);
    for (const action of sent) expect(distinct.get(action.messageId)).toEqual(action);
  });

  it('has orders reported twice, refunds, merges and plan changes', () => {
    const orders = [...distinct.values()].filter((a) => a.event === 'Order Completed');
    const byOrder = new Map<unknown, number>();
    for (const order of orders)
      byOrder.set(order.properties!.order_id, (byOrder.get(order.properties!.order_id) ?? 0) + 1);
    expect([...byOrder.values()].filter((n) => n === 2).length).toBeGreaterThan(10);
    expect([...distinct.values()].filter((a) => a.event === 'Order Refunded').length).toBeGreaterThan(10);
    const plans = new Set([...distinct.values()].map((a) => a.traits?.plan).filter(Boolean));
    expect(plans).toEqual(new Set(['basic', 'pro']));
    // A login links an anonymous profile to an account: a merge when both had events.
    const merged = workload.identityComponents.filter(
      (ids) => ids.some((id) => id.startsWith('user_id:')) && ids.some((id) => id.startsWith('anonymous_id:')),
    );
    expect(merged.length).toBeGreaterThan(50);
  });

  it('never gives a profile two identifiers of a type limited to one', () => {
    for (const component of workload.identityComponents) {
      for (const type of ['user_id', 'customer_id', 'email']) {
        expect(component.filter((id) => id.startsWith(`${type}:`)).length).toBeLessThanOrEqual(1);
      }
    }
    const all = workload.identityComponents.flat();
    expect(new Set(all).size).toBe(all.length);
    const carried = new Set([...distinct.values()].flatMap(identifiersOf));
    expect(new Set(all)).toEqual(carried);
  });
});
