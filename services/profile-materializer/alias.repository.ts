import type { ClickHouse } from '../common/clickhouse/client-factory';
import { stringList, stringListParam } from '../common/clickhouse/string-list';

/**
 * Reads of the current alias map (profile_aliases: absorbed → surviving, flat). Both reads are
 * by primary key however many aliases there are: profile_aliases by absorbed_profile_id, and
 * the index by survivor (migration 0014) for "merged into these", whose candidates are then
 * checked against profile_aliases, so stale pairs never show.
 */

/** Current aliases touching `ids`: absorbed → surviving, for rows whose absorbed or surviving id is one of them. */
export async function loadAliases(ch: ClickHouse, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const wanted = new Set(ids);
  const rows = await aliasesAround(ch, ids, 'ids');
  return new Map(
    rows
      .filter((r) => wanted.has(r.absorbed_profile_id) || wanted.has(r.surviving_profile_id))
      .map((r) => [r.absorbed_profile_id, r.surviving_profile_id]),
  );
}

/**
 * The alias groups of `ids`: absorbed → surviving for each id that was absorbed, and for every
 * profile absorbed into one of `ids` or into their survivors. So resolving any of `ids` gives
 * its survivor, and every member of that survivor is in the map.
 */
export async function loadAliasGroups(ch: ClickHouse, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await aliasesAround(ch, ids, 'ids and their survivors');
  const survivors = new Set(ids);
  for (const row of rows) if (survivors.has(row.absorbed_profile_id)) survivors.add(row.surviving_profile_id);
  return new Map(
    rows
      .filter((r) => survivors.has(r.surviving_profile_id))
      .map((r) => [r.absorbed_profile_id, r.surviving_profile_id]),
  );
}

/**
 * Current alias rows of `ids` as absorbed profiles and of the profiles absorbed into `ids` (or
 * also into their survivors), plus stale candidates the callers filter out.
 *
 * Flat reads, one after the other, instead of one query with nested IN subqueries: ClickHouse
 * plans every subquery scope with the whole id list again, and the nested form took 72 ms for
 * 20,000 ids against empty alias tables; these take about 35 (the third only runs when the index
 * names candidates, and then for those few ids).
 */
async function aliasesAround(
  ch: ClickHouse,
  ids: readonly string[],
  around: 'ids' | 'ids and their survivors',
): Promise<AliasRow[]> {
  const own = await currentAliases(ch, ids);
  // The profiles whose absorbed members are wanted.
  const absorbers = around === 'ids' ? ids : [...ids, ...new Set(own.map((row) => row.surviving_profile_id))];
  const indexed = await ch.query<{ absorbed_profile_id: string }>(
    `SELECT DISTINCT absorbed_profile_id FROM profile_aliases_by_survivor WHERE surviving_profile_id IN ${stringList('ids')}`,
    { ids: stringListParam(absorbers) },
  );
  const known = new Set(own.map((row) => row.absorbed_profile_id));
  const candidates = indexed.map((row) => row.absorbed_profile_id).filter((id) => !known.has(id));
  return candidates.length === 0 ? own : [...own, ...(await currentAliases(ch, candidates))];
}

interface AliasRow {
  absorbed_profile_id: string;
  surviving_profile_id: string;
}

/** Current alias rows (the profile_aliases view) of these absorbed profiles. */
function currentAliases(ch: ClickHouse, absorbed: readonly string[]): Promise<AliasRow[]> {
  return ch.query(
    `SELECT absorbed_profile_id, surviving_profile_id FROM profile_aliases WHERE absorbed_profile_id IN ${stringList('ids')}`,
    {
      ids: stringListParam(absorbed),
    },
  );
}
