import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import type { Event } from '../../../../schemas';
import {
  DAY_MS,
  generateDemoPopulation,
  japaneseStoreCsv,
  japaneseStoreMapping,
  storeRowsCsv,
} from '../../../../services/cli/demo/demo-population';
import { importFile } from '../../../../services/cli/import/import-file';
import { importSettings, parseMapPairs } from '../../../../services/cli/import/map-record';
import { validateMessage } from '../../../../services/common/events/validate-message.step';
import { resolveIdentityRules } from '../../../../services/identity-stitcher/identity/identity-rules';
import { IdentifierNormaliser } from '../../../../services/identity-stitcher/identity/normalise';
import { linkRequestOf } from '../../../../services/identity-stitcher/steps/link-request.step';

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
    const { japaneseStoreRows } = generateDemoPopulation({ people: 500, days: 60, seed: 1, now });
    expect(distinctGood.size + storeRows.length + japaneseStoreRows.length).toBe(truth.goodMessageIds.size);
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

describe("the Japanese stores' export", () => {
  it('is a third of the store purchases, in CP932, and imports as the truth says: yen, Tokyo time, one spelling', async () => {
    const population = generateDemoPopulation({ people: 400, days: 60, seed: 9, now });
    const { japaneseStoreRows: rows, storeRows, truth } = population;
    expect(rows.length / (rows.length + storeRows.length)).toBeGreaterThan(0.25);
    expect(rows.length / (rows.length + storeRows.length)).toBeLessThan(0.42);
    const csv = japaneseStoreCsv(rows);
    expect(iconv.decode(csv, 'cp932').split('\r\n')[0]).toBe(
      '取引ID,レシート番号,会員番号,メールアドレス,電話番号,伝票番号,合計金額,購入日時,店舗',
    );
    // Every way of writing is there: full-width contacts, each yen spelling, era and full-width dates.
    const cells = rows.flatMap((row) => Object.values(row)).join('\n');
    for (const sample of [
      /＠ｅｘａｍｐｌｅ．ｃｏｍ/,
      /＋８１/,
      /^￥\d/m,
      /^\d[\d,]*円$/m,
      /^[０-９，]+円$/m,
      /^¥/m,
      /^令和\d+年/m,
      /^R\d+\./m,
      /^[０-９]{4}年/m,
    ])
      expect(cells).toMatch(sample);

    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'kumiki-demo-ja-')), 'store-pos-ja.csv');
    writeFileSync(file, csv);
    const events: Event[] = [];
    const summary = await importFile(
      {
        file,
        source: 'store-pos',
        mapping: parseMapPairs(japaneseStoreMapping),
        ...importSettings({ locale: 'ja-JP' }),
      },
      async (batch) => void events.push(...batch),
    );
    expect([summary.encoding, summary.sent, summary.rejected]).toEqual(['CP932 (Shift_JIS), detected', rows.length, 0]);

    const rules = resolveIdentityRules();
    const normaliser = new IdentifierNormaliser(rules);
    const orders = new Map(truth.orders.map((order) => [order.orderId, order]));
    for (const event of events) {
      const properties = JSON.parse(event.properties) as { order_id: string; revenue: number; currency: string };
      const order = orders.get(properties.order_id)!;
      expect({
        id: event.messageId,
        at: event.timestamp,
        currency: properties.currency,
        cents: (properties.revenue / 100) * 67,
      }).toEqual({
        id: event.messageId,
        at: order.at,
        currency: 'JPY',
        cents: order.cents,
      });
      expect(order.currency).toBe('JPY');
      const request = linkRequestOf(event, rules, normaliser);
      if (request.kind !== 'ok') throw new Error(request.reason);
      const identifiers = request.value.identifiers.map((i) => `${i.type}:${i.value}`);
      const component = truth.components.get(order.person)!.find((c) => c.includes(order.identifier))!;
      expect({ id: event.messageId, missing: identifiers.filter((i) => !component.includes(i)) }).toEqual({
        id: event.messageId,
        missing: [],
      });
    }
  });
});
