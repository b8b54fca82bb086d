import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../services/cli/main';
import {
  batchesOf,
  demoCurrencyRates,
  generateDemoPopulation,
  japaneseStoreCsv,
  japaneseStoreMapping,
  storeRowsCsv,
  type DemoPopulation,
} from '../../services/cli/demo/demo-population';
import { downstreamConsumer } from '../support/downstream';
import { startPipeline, type RunningPipeline } from '../support/pipeline';
import { testStack } from '../support/stack-env';
import { waitFor } from '../support/wait-for';
import { expectedRfm } from './rfm-truth';

/**
 * End to end: a generated omnichannel population over HTTP into the collector and a store
 * export through `kumiki import`, through the identity stitcher and the profile-materializer
 * (each its own process), out as ClickHouse rows (read through the read API) and as Avro on
 * the profile-updates and dead-letter topics (read by a downstream consumer that knows only
 * kafkajs and the Confluent registry client). Every figure is compared with the generator's
 * ground truth, exactly.
 */
jest.setTimeout(240_000);

async function sendOverHttp(
  pipeline: RunningPipeline,
  population: DemoPopulation,
): Promise<{ accepted: number; rejected: { messageId: string; code: string; message: string }[] }> {
  let accepted = 0;
  const rejected: { messageId: string; code: string; message: string }[] = [];
  const batches = batchesOf(population.messages, 100);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const batch = batches[next++]!;
      const response = await fetch(`${pipeline.collector.url}/v1/batch`, {
        method: 'POST',
        headers: { authorization: pipeline.collector.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ batch }),
      });
      const body = (await response.json()) as {
        accepted: number;
        rejected?: { messageId: string; code: string; message: string }[];
      };
      expect(response.status).toBe(200);
      accepted += body.accepted;
      rejected.push(...(body.rejected ?? []));
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return { accepted, rejected };
}

describe('the whole pipeline, HTTP and import in, ClickHouse and Kafka out', () => {
  let pipeline: RunningPipeline;
  let downstream: Awaited<ReturnType<typeof downstreamConsumer>>;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-e2e-import-'));

  beforeAll(async () => {
    pipeline = await startPipeline({ env: { RFM_CURRENCY_RATES: demoCurrencyRates } });
    downstream = await downstreamConsumer([pipeline.topics.updates, pipeline.topics.dlq, pipeline.topics.segments]);
  });
  afterAll(async () => {
    await downstream?.stop();
    await pipeline?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('stitches, counts and scores a generated population exactly', async () => {
    const started = Date.now();
    const population = generateDemoPopulation({ people: 250, days: 60, seed: 7, now: Date.now() });
    const { truth } = population;
    // A segment defined before any event: everyone with an order (refunded or not) in the window.
    const purchasers = await pipeline.api<{ id: string; name: string }>('POST', '/v1/segments', {
      name: 'purchased this year',
      rule: { performed: { event: 'Order Completed' }, within: { days: 365 } },
    });

    // In: HTTP through the collector, store purchases through `kumiki import`: a UTF-8 export, and
    // the Japanese stores' CP932 export (yen, era dates in Tokyo time, full-width contacts).
    const http = await sendOverHttp(pipeline, population);
    const csv = path.join(tmp, 'store-pos.csv');
    fs.writeFileSync(csv, storeRowsCsv(population.storeRows));
    const japaneseCsv = path.join(tmp, 'store-pos-ja.csv');
    fs.writeFileSync(japaneseCsv, japaneseStoreCsv(population.japaneseStoreRows));
    const kumikiImport = (args: string[]): Promise<number> =>
      main(
        [
          'node',
          'kumiki',
          'import',
          ...args,
          '--topic',
          pipeline.topics.raw,
          '--source',
          'store-pos',
          '--no-progress',
          '--json',
        ],
        {
          PATH: process.env.PATH,
          KUMIKI_HOME: tmp,
          KAFKA_BROKERS: testStack().brokers.join(','),
          SCHEMA_REGISTRY_URL: testStack().registryUrl,
        },
      );
    expect(await kumikiImport([csv])).toBe(0);
    expect(
      await kumikiImport([
        japaneseCsv,
        '--locale',
        'ja-JP',
        ...japaneseStoreMapping.flatMap((pair) => ['--map', pair]),
      ]),
    ).toBe(0);
    const sentAt = Date.now();

    // The collector accepted every good message (retries included) and rejected exactly the bad ones.
    expect(http.accepted).toBe(population.messages.length - truth.bad.length);
    expect(http.rejected.map((r) => [r.messageId, r.code]).sort()).toEqual(
      truth.bad.map((b) => [b.messageId, b.code]).sort(),
    );

    // Every event lands in ClickHouse exactly once, and the profiles settle at the truth.
    const _totals = await waitFor(
      async () => {
        const [row] = await pipeline.sql<{ events: string; ids: string; profiles: string }>(
          // uniqExact: exact counts; the events view reads events_store FINAL and resolves merges.
          'SELECT toString(count()) AS events, toString(uniqExact(message_id)) AS ids, toString(uniqExact(profile_id)) AS profiles FROM events',
        );
        expect({ events: Number(row!.events), ids: Number(row!.ids), profiles: Number(row!.profiles) }).toEqual({
          events: truth.goodMessageIds.size,
          ids: truth.goodMessageIds.size,
          profiles: truth.profiles,
        });
        return row!;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const queryableAt = Date.now();
    const ids = await pipeline.sql<{ message_id: string }>('SELECT message_id FROM events');
    expect(new Set(ids.map((r) => r.message_id))).toEqual(truth.goodMessageIds);

    // Identity: each person's component is exactly one profile, and no two components share one.
    // (Identities come from the identity-changes topic, which may trail the events by a batch.)
    const { identities, profileOf, owner } = await waitFor(
      async () => {
        const rows = await pipeline.sql<{ identifier: string; profile_id: string }>(
          "SELECT concat(identifier_type, ':', identifier_value) AS identifier, profile_id FROM identities",
        );
        const byIdentifier = new Map(rows.map((r) => [r.identifier, r.profile_id]));
        const owners = new Map<string, string>();
        for (const [person, components] of truth.components) {
          for (const component of components) {
            const profiles = new Set(component.map((identifier) => byIdentifier.get(identifier)));
            expect({ person, component, profiles: [...profiles] }).toEqual({
              person,
              component,
              profiles: [expect.any(String)],
            });
            const profile = [...profiles][0]!;
            expect({ profile, owner: owners.get(profile) }).toEqual({ profile, owner: undefined });
            owners.set(profile, `${person}/${component[0]}`);
          }
        }
        expect(owners.size).toBe(truth.profiles);
        return { identities: rows, profileOf: byIdentifier, owner: owners };
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    // Placeholder anonymous ids of a buggy SDK never became identifiers.
    expect(identities.filter((r) => /^anonymous_id:(undefined|null|0{8}-)/.test(r.identifier))).toEqual([]);

    // RFM per profile, to the cent, with scores and labels, against figures computed here: exact
    // as of any instant through rfm_as_of, and in the public rfm view (the latest snapshot, which
    // the materializer refreshes soon after purchases, refunds and merges).
    const rfmColumns =
      'profile_id, toString(frequency) AS frequency, toString(monetary_cents) AS cents, toString(recency_days) AS recency, r_score, f_score, m_score, label';
    const asMap = (rows: Record<string, string | number>[]): Map<string, unknown> =>
      new Map(
        rows.map((r) => [
          String(r.profile_id),
          {
            frequency: Number(r.frequency),
            monetaryCents: Number(r.cents),
            recencyDays: Number(r.recency),
            r: Number(r.r_score),
            f: Number(r.f_score),
            m: Number(r.m_score),
            label: String(r.label),
          },
        ]),
      );
    const expectedAt = (asOf: number): Map<string, unknown> =>
      new Map(
        [...expectedRfm(truth.orders, (identifier) => profileOf.get(identifier)!, asOf)].map(([id, e]) => [
          id,
          {
            frequency: e.frequency,
            monetaryCents: e.monetaryCents,
            recencyDays: e.recencyDays,
            r: e.r,
            f: e.f,
            m: e.m,
            label: e.label,
          },
        ]),
      );
    const asOf = Date.now();
    const exact = await pipeline.sql<Record<string, string | number>>(
      `SELECT ${rfmColumns} FROM rfm_as_of(as_of = fromUnixTimestamp64Milli({as_of:Int64}, 'UTC'))`,
      { as_of: asOf },
    );
    expect(asMap(exact)).toEqual(expectedAt(asOf));
    const expected = expectedRfm(truth.orders, (identifier) => profileOf.get(identifier)!, asOf);
    expect(expected.size).toBeGreaterThan(50);
    await waitFor(
      async () => {
        const rows = await pipeline.sql<Record<string, string | number>>(
          `SELECT ${rfmColumns}, toString(toUnixTimestamp64Milli(computed_at)) AS computed FROM rfm`,
        );
        expect(rows.length).toBeGreaterThan(0);
        expect(asMap(rows)).toEqual(expectedAt(Number(rows[0]!.computed)));
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );

    // Out: the latest ProfileUpdate of every profile, decoded by a downstream consumer through the
    // registry. Its RFM figures are asserted; its scores and labels are not: a profile's update is
    // published when the profile is touched, so later purchases of others that move the quintiles
    // leave its published scores behind (measured: 27 of 153 profiles here).
    await waitFor(
      () => {
        const latest = new Map<string, Record<string, unknown>>();
        for (const record of downstream.records)
          if (record.topic === pipeline.topics.updates) latest.set(record.key, record.value);
        const live = [...latest.values()].filter((u) => u.mergedInto === null);
        expect(new Set(live.map((u) => u.profileId))).toEqual(new Set(owner.keys()));
        for (const [profileId, e] of expected) {
          const update = latest.get(profileId)!;
          const figures = update.rfm as { frequency: number; monetary: number; recencyDays: number } | null;
          expect({
            profileId,
            rfm: figures && {
              frequency: figures.frequency,
              cents: Math.round(figures.monetary * 100),
              recencyDays: figures.recencyDays,
            },
          }).toEqual({
            profileId,
            rfm: { frequency: e.frequency, cents: e.monetaryCents, recencyDays: e.recencyDays },
          });
        }
        for (const [_key, update] of latest)
          if (update.mergedInto !== null)
            expect(owner.has(String(update.mergedInto)) || latest.get(String(update.mergedInto))).toBeTruthy();
        expect([...latest.keys()].filter((key) => !owner.has(key) && latest.get(key)!.mergedInto === null)).toEqual([]);
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );

    // Segments: the members are exactly the profiles with an order, in segment_members, in the
    // members API and on kumiki.segments.changes (decoded downstream): one `entered` per member,
    // never twice in a row, and the profile's latest ProfileUpdate lists the segment.
    const buyers = new Set(truth.orders.map((order) => profileOf.get(order.identifier)!));
    expect(buyers.size).toBeGreaterThan(50);
    await waitFor(
      async () => {
        const rows = await pipeline.sql<{ profile_id: string }>(
          'SELECT profile_id FROM segment_members WHERE segment_id = {id:String}',
          { id: purchasers.id },
        );
        expect(new Set(rows.map((r) => r.profile_id))).toEqual(buyers);
        const changes = downstream.records.filter((r) => r.topic === pipeline.topics.segments).map((r) => r.value);
        expect(changes.every((c) => c.segmentId === purchasers.id && c.segmentName === 'purchased this year')).toBe(
          true,
        );
        const last = new Map<string, string>();
        for (const change of changes) {
          const profileId = String(change.profileId);
          expect({ profileId, repeated: last.get(profileId) === change.change }).toEqual({
            profileId,
            repeated: false,
          });
          last.set(profileId, String(change.change));
        }
        expect(new Set([...last].filter(([, change]) => change === 'entered').map(([id]) => id))).toEqual(buyers);
        const latest = new Map<string, Record<string, unknown>>();
        for (const record of downstream.records)
          if (record.topic === pipeline.topics.updates) latest.set(record.key, record.value);
        for (const id of buyers)
          expect({ id, segments: latest.get(id)?.segments }).toEqual({ id, segments: [purchasers.id] });
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const members = await pipeline.api<{ members: { profileId: string }[] }>(
      'GET',
      `/v1/segments/${purchasers.id}/members?limit=10000`,
    );
    expect(new Set(members.members.map((m) => m.profileId))).toEqual(buyers);

    // Bad input: every broken message is on the dead-letter topic with its reason, and nothing else is.
    await waitFor(
      () => {
        const letters = downstream.records.filter((r) => r.topic === pipeline.topics.dlq).map((r) => r.value);
        expect(letters.map((l) => [l.messageId, l.code, l.service, l.stage]).sort()).toEqual(
          truth.bad.map((b) => [b.messageId, b.code, 'collector', expect.any(String)]).sort(),
        );
        for (const letter of letters) expect(String(letter.reason).length).toBeGreaterThan(5);
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    process.stdout.write(
      `e2e: ${population.messages.length} HTTP messages (${truth.bad.length} bad, ${truth.duplicates} retries) + ${population.storeRows.length} + ${population.japaneseStoreRows.length} (CP932) imported, ` +
        `${truth.goodMessageIds.size} events, ${truth.profiles} profiles, ${expected.size} purchasers; sent in ${sentAt - started} ms, all queryable ${queryableAt - sentAt} ms later\n`,
    );
  });
});
