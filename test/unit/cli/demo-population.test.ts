import { validateMessage } from '../../../services/collector/steps/validate-message.step';
import { DAY_MS, generateDemoPopulation, storeRowsCsv } from '../../../services/cli/demo/demo-population';

const now = Date.UTC(2026, 10, 23, 12);

describe('demo population', () => {
  it('is the same for the same seed, and different for another', () => {
    const a = generateDemoPopulation({ people: 200, days: 30, seed: 5, now });
    const b = generateDemoPopulation({ people: 200, days: 30, seed: 5, now });
    const c = generateDemoPopulation({ people: 200, days: 30, seed: 6, now });
    expect(JSON.stringify(b.messages)).toBe(JSON.stringify(a.messages));
    expect(storeRowsCsv(b.storeRows)).toBe(storeRowsCsv(a.storeRows));
    expect(b.truth.profiles).toBe(a.truth.profiles);
    expect(JSON.stringify(c.messages)).not.toBe(JSON.stringify(a.messages));
  });

  it('breaks about 5 % of HTTP messages in exactly the ways it records, and only those', () => {
    const { messages, storeRows, truth } = generateDemoPopulation({ people: 500, days: 60, seed: 1, now });
    const bad = new Map(truth.bad.map((b) => [b.messageId, b.code]));
    expect(truth.bad.length / messages.length).toBeGreaterThan(0.04);
    expect(truth.bad.length / messages.length).toBeLessThan(0.06);
    for (const message of messages) {
      const result = validateMessage(message, { type: message.type as 'track' });
      if (bad.has(message.messageId))
        expect({
          id: message.messageId,
          kind: result.kind,
          code: result.kind === 'dlq' ? result.code : undefined,
        }).toEqual({ id: message.messageId, kind: 'dlq', code: bad.get(message.messageId) });
      else expect({ id: message.messageId, kind: result.kind }).toEqual({ id: message.messageId, kind: 'ok' });
    }
    const distinctGood = new Set(messages.map((m) => m.messageId).filter((id) => !bad.has(id)));
    expect(truth.duplicates).toBeGreaterThan(0);
    expect(distinctGood.size + storeRows.length).toBe(truth.goodMessageIds.size);
  });

  it('puts every event in the past, inside the window, and every order on an identifier of its person', () => {
    const { messages, storeRows, truth } = generateDemoPopulation({ people: 300, days: 90, seed: 3, now });
    for (const message of messages) {
      if (typeof message.timestamp !== 'string' || message.timestamp === 'last tuesday') continue;
      const at = Date.parse(message.timestamp);
      expect(at).toBeLessThan(now);
      expect(at).toBeGreaterThan(now - 90 * DAY_MS);
    }
    for (const row of storeRows) expect(Date.parse(row.timestamp)).toBeLessThan(now);
    for (const order of truth.orders) {
      const components = truth.components.get(order.person)!;
      expect(components.some((component) => component.includes(order.identifier))).toBe(true);
      // Recency stays put for at least an hour after generation.
      expect(Math.floor((now - order.at) / DAY_MS)).toBe(Math.floor((now + 3_600_000 - order.at) / DAY_MS));
    }
    // Heavy tail: most buyers buy once or twice, someone buys often.
    const perPerson = new Map<string, number>();
    for (const order of truth.orders) perPerson.set(order.person, (perPerson.get(order.person) ?? 0) + 1);
    expect(Math.max(...perPerson.values())).toBeGreaterThanOrEqual(6);
    // Each person is one profile, except members whose loyalty card never met their account.
    expect(truth.profiles).toBeGreaterThanOrEqual(truth.people);
    expect(truth.profiles).toBeLessThan(truth.people * 1.1);
  });
});
