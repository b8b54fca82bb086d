import type { RecommendationQuality } from '../../common/predictions/model-reports';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { integerLiteral } from '../../common/clickhouse/sql-text';
import { streamRows } from './stream-rows';
import { ACTIVITY_ROWS_PER_BUCKET, PRODUCT_EVENTS } from './activity';
import { inBucket, releaseFreedMemory, runBuckets, runInBuckets } from './buckets';

/**
 * Item-to-item recommendations. Two products are similar when the same profiles viewed, added
 * or bought both: similarity = cosine of their sets of profiles, together / √(n_i · n_j), kept
 * for pairs seen together by at least two profiles, the 20 nearest per product. A profile's
 * candidates score the sum of their similarities to the products it interacted with; products
 * it bought and excluded products are never recommended; fewer than `count` candidates are
 * filled from the most bought products. Neighbours are computed per run in ClickHouse;
 * recommending for one profile is a small read and `recommend` below (used by the read API and
 * by the evaluation alike).
 */
export const NEIGHBOURS_PER_ITEM = 20;
export const MIN_TOGETHER = 2;
export const POPULAR_ITEMS = 50;
/** Products per profile considered when counting pairs (its latest ones). */
const ITEMS_PER_PROFILE = 200;

export interface Neighbour {
  readonly item: string;
  readonly other: string;
  readonly score: number;
}

/**
 * Interactions up to `ref` (an SQL time expression) as (profile_id, item, is_purchase, timestamp),
 * one row per product of an event: purchase events list `products[].product_id` (Segment
 * e-commerce spec), views and cart adds carry `product_id`. `source` is the events view, or
 * events_store when `where` restricts it to known profile ids.
 */
export function interactionsSql(ref: string, source: 'events' | 'events_store' = 'events', where = ''): string {
  return `SELECT profile_id, item, is_purchase, timestamp
     FROM
     (
         SELECT profile_id, timestamp, has((SELECT argMax(purchase_events, version) FROM rfm_settings_store), event) AS is_purchase,
                arrayJoin(if(is_purchase,
                             arrayMap(p -> JSONExtractString(p, 'product_id'), JSONExtractArrayRaw(properties, 'products')),
                             [JSONExtractString(properties, 'product_id')])) AS item
         FROM ${source}
         WHERE type = 'track' AND timestamp <= ${ref}
           AND (event IN ${PRODUCT_EVENTS} OR has((SELECT argMax(purchase_events, version) FROM rfm_settings_store), event))
           ${where}
     )
     WHERE item != ''`;
}

const at = (ms: number): string => `fromUnixTimestamp64Milli(toInt64(${integerLiteral(ms)}), 'UTC')`;

/**
 * The interactions of run `version` from its staged events (stageActivity, which reads products
 * as interactionsSql does): split 0 up to `now`, split 1 up to `earlier` (a profile-product pair
 * is in split 1 if first seen by then, bought if bought by then), in buckets of the profile
 * (buckets.ts), ACTIVITY_ROWS_PER_BUCKET staged events each.
 */
export async function writeInteractions(ch: ClickHouse, version: number, now: number, earlier: number): Promise<void> {
  await runInBuckets(
    ch,
    await runBuckets(ch, 'prediction_activity_store', version, ACTIVITY_ROWS_PER_BUCKET),
    (bucket) =>
      `INSERT INTO prediction_interactions_store (version, split, profile_id, item, bought)
     SELECT toUInt64(${integerLiteral(version)}), split, profile_id, item, if(split = 0, bought_now, bought_earlier)
     FROM
     (
         SELECT profile_id, item, min(timestamp) AS seen, toUInt8(countIf(is_purchase) > 0) AS bought_now,
                toUInt8(countIf(is_purchase AND timestamp <= ${at(earlier)}) > 0) AS bought_earlier
         FROM prediction_activity_store
         ARRAY JOIN items AS item
         WHERE version = ${integerLiteral(version)} AND timestamp <= ${at(now)} AND ${inBucket('profile_id', bucket)}
         GROUP BY profile_id, item
     )
     ARRAY JOIN [toUInt8(0), toUInt8(1)] AS split
     WHERE split = 0 OR seen <= ${at(earlier)}`,
  );
}

/**
 * Each profile's products, aggregated in profile order (buckets.ts inSortKeyOrder, on the threads the
 * pair counts use), in small blocks: every row of a profile's pairs carries its list, so a block
 * of tens of thousands of profiles (the default) would hold hundreds of MB of copies of them.
 */
const pairsSettings = Object.freeze({ optimize_aggregation_in_order: 1, max_block_size: '4096' });

/**
 * The neighbours of (version, split) from its staged interactions. A profile's products are
 * distinct, so each unordered pair is counted once (i < j) and written both ways.
 */
export async function writeNeighbours(ch: ClickHouse, version: number, split: number): Promise<void> {
  const v = integerLiteral(version);
  const s = integerLiteral(split);
  const interactions = `prediction_interactions_store WHERE version = ${v} AND split = ${s}`;
  await ch.command(
    `INSERT INTO item_similarity_store (version, split, item, other, score, together)
     SELECT toUInt64(${v}), toUInt8(${s}), pairs.i, pairs.j, pairs.together / sqrt(a.n * b.n) AS score, toUInt32(pairs.together)
     FROM
     (
         SELECT tupleElement(pair, 1) AS i, tupleElement(pair, 2) AS j, together
         FROM
         (
             SELECT lo, hi, count() AS together
             FROM (SELECT profile_id, groupArray(${ITEMS_PER_PROFILE})(item) AS items FROM ${interactions} GROUP BY profile_id HAVING length(items) > 1)
             ARRAY JOIN items AS lo
             ARRAY JOIN items AS hi
             WHERE lo < hi
             GROUP BY lo, hi
             HAVING together >= ${MIN_TOGETHER}
         )
         ARRAY JOIN [(lo, hi), (hi, lo)] AS pair
     ) AS pairs
     INNER JOIN (SELECT item, count() AS n FROM ${interactions} GROUP BY item) AS a ON a.item = pairs.i
     INNER JOIN (SELECT item, count() AS n FROM ${interactions} GROUP BY item) AS b ON b.item = pairs.j
     ORDER BY pairs.i, score DESC, pairs.j
     LIMIT ${NEIGHBOURS_PER_ITEM} BY pairs.i`,
    undefined,
    { settings: pairsSettings },
  );
  await releaseFreedMemory(ch);
}

/** The most bought products of (version, split), most profiles first. */
export async function popularItems(ch: ClickHouse, version: number, split: number): Promise<string[]> {
  const rows = await ch.query<{ item: string }>(
    `SELECT item FROM prediction_interactions_store
     WHERE version = {version:UInt64} AND split = {split:UInt8} AND bought = 1
     GROUP BY item ORDER BY count() DESC, item LIMIT {limit:UInt32}`,
    { version, split, limit: POPULAR_ITEMS },
  );
  return rows.map((row) => row.item);
}

/** A profile's products: each once, with whether it bought it. */
export type ProfileItems = ReadonlyMap<string, boolean>;

/**
 * The top `count` products for a profile with `items`, given the neighbours of those items.
 * Ties in score go to the smaller product id, so the answer does not depend on row order.
 */
export function recommend(
  items: ProfileItems,
  neighbours: readonly Neighbour[],
  popular: readonly string[],
  excluded: ReadonlySet<string>,
  count = 5,
): string[] {
  const allowed = (item: string): boolean => items.get(item) !== true && !excluded.has(item);
  const scores = new Map<string, number>();
  for (const { item, other, score } of neighbours) {
    if (!items.has(item) || !allowed(other)) continue;
    scores.set(other, (scores.get(other) ?? 0) + score);
  }
  const ranked = [...scores]
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, count)
    .map(([item]) => item);
  for (const item of popular) {
    if (ranked.length >= count) break;
    if (allowed(item) && !ranked.includes(item)) ranked.push(item);
  }
  return ranked;
}

/** The most popular products the profile has not bought: the baseline. */
export function recommendPopular(
  items: ProfileItems,
  popular: readonly string[],
  excluded: ReadonlySet<string>,
  count = 5,
): string[] {
  return recommend(items, [], popular, excluded, count);
}

/** At most this many profiles are evaluated (a hash sample beyond). */
const MAX_EVALUATED = 20_000;

/**
 * Hit rate at 5 on the split of run `version`: neighbours and popularity from split 1 (up to one
 * horizon before the as-of time), against the products each profile bought in the horizon that
 * it had not bought before. Null when no profile qualifies.
 */
export async function evaluateRecommendations(
  ch: ClickHouse,
  version: number,
  excluded: ReadonlySet<string>,
): Promise<RecommendationQuality | null> {
  const v = integerLiteral(version);
  const neighbours: Neighbour[] = [];
  await streamRows(
    ch,
    `SELECT item, other, score FROM item_similarity_store WHERE version = ${v} AND split = 1`,
    (row) => neighbours.push({ item: String(row[0]), other: String(row[1]), score: Number(row[2]) }),
  );
  const popular = await popularItems(ch, version, 1);
  const profiles: { items: Map<string, boolean>; bought: string[] }[] = [];
  await streamRows(
    ch,
    `WITH
         (SELECT count() FROM (SELECT DISTINCT profile_id FROM prediction_interactions_store WHERE version = ${v} AND split = 0 AND bought = 1)) AS buyers,
         greatest(1, intDiv(buyers, ${MAX_EVALUATED})) AS every
     SELECT profile_id, groupArrayIf((item, bought), split = 1) AS before, groupArrayIf(item, split = 0 AND bought = 1) AS now
     FROM prediction_interactions_store
     WHERE version = ${v} AND cityHash64(profile_id) % every = 0
     GROUP BY profile_id
     HAVING length(before) > 0
     ORDER BY profile_id`,
    (row) => {
      const items = new Map((row[1] as [string, number][]).map(([item, bought]) => [item, Number(bought) === 1]));
      const bought = (row[2] as string[]).filter((item) => items.get(item) !== true && !excluded.has(item));
      if (bought.length > 0) profiles.push({ items, bought });
    },
  );
  if (profiles.length === 0) return null;
  const byItem = new Map<string, Neighbour[]>();
  for (const n of neighbours) byItem.set(n.item, [...(byItem.get(n.item) ?? []), n]);
  let hits = 0;
  let popularHits = 0;
  let sumSquares = 0;
  for (const { items, bought } of profiles) {
    const near = [...items.keys()].flatMap((item) => byItem.get(item) ?? []);
    const hit = recommend(items, near, popular, excluded).some((item) => bought.includes(item)) ? 1 : 0;
    const popularHit = recommendPopular(items, popular, excluded).some((item) => bought.includes(item)) ? 1 : 0;
    hits += hit;
    popularHits += popularHit;
    sumSquares += (hit - popularHit) ** 2;
  }
  const n = profiles.length;
  const meanDifference = (hits - popularHits) / n;
  const variance = Math.max(0, sumSquares / n - meanDifference ** 2);
  return {
    profiles: n,
    hitRateAt5: hits / n,
    popularityHitRateAt5: popularHits / n,
    differenceStandardError: Math.sqrt(variance / n),
  };
}
