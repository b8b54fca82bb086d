import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { demoCurrencyRates, generateDemoPopulation } from '../../services/cli/demo/demo-population';
import { runDemoCommand } from '../support/demo-cli';
import { startPipeline, type RunningPipeline } from '../support/pipeline';
import { withServiceLogsOnFailure } from '../support/service-process';

/**
 * `kumiki demo` against the three services started as `kumiki up` runs them (fresh topics, a
 * temporary ClickHouse): every number it prints must equal what SQL says, asked here in
 * different words, and the profile count and dead letters must equal the generator's truth.
 */
jest.setTimeout(240_000);

describe('kumiki demo', () => {
  let pipeline: RunningPipeline;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-demo-cli-'));

  beforeAll(async () => {
    // The Japanese stores sell in yen: RFM converts them at the demo's rate.
    pipeline = await startPipeline({ env: { RFM_CURRENCY_RATES: demoCurrencyRates } });
  });
  afterAll(async () => {
    await pipeline?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('prints the stitched profiles, RFM grid, labels, segments and dead letters as SQL has them', () =>
    withServiceLogsOnFailure(async () => {
      const { exitCode, printed } = await runDemoCommand(pipeline, home, { people: 150, days: 45, seed: 11 });
      process.stdout.write(printed);
      expect(exitCode).toBe(0);

      const truth = generateDemoPopulation({ people: 150, days: 45, seed: 11, now: Date.now() }).truth;
      const n = (value: number | string): string => Number(value).toLocaleString('en-US');
      const usd = (cents: number | string): string =>
        `$${(Number(cents) / 100).toLocaleString('en-US', { maximumFractionDigits: 0 })}`;
      const one = async (query: string): Promise<string> => String(Object.values((await pipeline.sql(query))[0]!)[0]);

      // Profiles: the generator's truth, and what ClickHouse holds.
      const profiles = await one('SELECT toString(uniqExact(profile_id)) FROM events');
      expect(Number(profiles)).toBe(truth.profiles);
      const events = await one('SELECT toString(count()) FROM events');
      expect(Number(events)).toBe(truth.goodMessageIds.size);
      const identifiers = await one('SELECT toString(count()) FROM identities');
      expect(printed).toContain(
        `Profiles stitched   ${n(profiles)} profiles from ${n(events)} events and ${n(identifiers)} identifiers`,
      );

      // The RFM grid, cell by cell, and the labels.
      const cells = await pipeline.sql<{ r: number; f: number; c: string; cents: string }>(
        'SELECT r_score AS r, f_score AS f, toString(count()) AS c, toString(sum(monetary_cents)) AS cents FROM rfm GROUP BY r, f',
      );
      expect(cells.length).toBeGreaterThan(3);
      const gridLines = printed.split('\n').filter((line) => /^\s+R=\d/.test(line));
      expect(gridLines).toHaveLength(5);
      for (let r = 5; r >= 1; r--) {
        const line = gridLines[5 - r]!;
        const printedCells = line
          .trim()
          .split(/\s{2,}/)
          .slice(1);
        const wanted = [1, 2, 3, 4, 5].map((f) => {
          const cell = cells.find((c) => Number(c.r) === r && Number(c.f) === f);
          return cell ? `${n(cell.c)} (${usd(cell.cents)})` : '-';
        });
        expect({ r, cells: printedCells }).toEqual({ r, cells: wanted });
      }
      // The Japanese stores' CP932 export: every purchase in, in yen, printed as SQL counts it.
      const [yen] = await pipeline.sql<{ orders: string; yen: string }>(
        "SELECT toString(count()) AS orders, toString(sum(revenue)) AS yen FROM events WHERE event = 'Order Completed' AND currency = 'JPY'",
      );
      const japaneseOrders = truth.orders.filter((order) => order.currency === 'JPY').length;
      expect(Number(yen!.orders)).toBe(japaneseOrders);
      expect(japaneseOrders).toBeGreaterThan(10);
      expect(printed).toContain(`Japanese stores     ${n(yen!.orders)} purchases, ¥${n(yen!.yen)} (CP932 export`);
      expect(printed).not.toContain('note: the stack has no JPY rate');
      const purchasers = await one('SELECT toString(count()) FROM rfm');
      const revenue = await one('SELECT toString(sum(monetary_cents)) FROM rfm');
      expect(printed).toContain(`Purchasers          ${n(purchasers)}, net revenue ${usd(revenue)}`);
      const labels = await pipeline.sql<{ label: string; c: string; cents: string }>(
        'SELECT label, toString(count()) AS c, toString(sum(monetary_cents)) AS cents FROM rfm GROUP BY label',
      );
      for (const label of labels)
        expect(printed).toMatch(
          new RegExp(
            `\\n  ${escapeRegExp(label.label)} +${escapeRegExp(n(label.c))} profiles? +${escapeRegExp(usd(label.cents))}\\n`,
          ),
        );

      // Segments, each asked with different SQL.
      const cartAbandonment = await one(`
      SELECT toString(count()) FROM (SELECT profile_id, max(timestamp) AS added FROM events WHERE event = 'Product Added' GROUP BY profile_id) AS a
      LEFT JOIN (SELECT profile_id, max(timestamp) AS bought FROM events WHERE event = 'Order Completed' GROUP BY profile_id) AS o USING (profile_id)
      WHERE a.added >= now64(3) - INTERVAL 7 DAY AND o.bought < a.added`);
      const atRisk = await one("SELECT toString(countIf(label = 'At risk' OR label = 'Can''t lose them')) FROM rfm");
      const browsedBoughtInStore = await one(`
      SELECT toString(count()) FROM (SELECT DISTINCT profile_id FROM events WHERE type = 'page' AND channel = 'web')
      WHERE profile_id IN (SELECT profile_id FROM events WHERE event = 'Order Completed' AND source = 'store-pos')`);
      expect(Number(cartAbandonment)).toBeGreaterThan(0);
      expect(Number(browsedBoughtInStore)).toBeGreaterThan(0);
      expect(printed).toMatch(new RegExp(`\\n  Cart abandonment +${n(cartAbandonment)} profiles?`));
      expect(printed).toMatch(new RegExp(`\\n  At risk +${n(atRisk)} profiles?`));
      expect(printed).toMatch(new RegExp(`\\n  Browsed online, bought in store +${n(browsedBoughtInStore)} profiles?`));

      // Dead letters by code: the generator's broken messages, counted off the DLQ topic.
      const byCode = new Map<string, number>();
      for (const bad of truth.bad) byCode.set(bad.code, (byCode.get(bad.code) ?? 0) + 1);
      expect(printed).toContain(
        `Dead letters (${n(truth.bad.length)} bad events, ${n(truth.bad.length)} rejected by the collector)`,
      );
      const printedByCode = new Map<string, number>();
      for (const match of printed.matchAll(/\n +(\d+) {2}(KUMIKI_[A-Z_]+) {2}/g))
        printedByCode.set(match[2]!, (printedByCode.get(match[2]!) ?? 0) + Number(match[1]));
      expect(printedByCode).toEqual(byCode);
    }));
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\$]/g, '\\$&');
}
