import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { DependencyUnavailableError, InternalError } from '../../common/errors';
import { sleep } from '../../common/retry';

/**
 * Finding and deleting a person in every ClickHouse table, including tables this code has never
 * heard of (predictions, audit payloads, whatever a later migration adds): the tables and views
 * are enumerated from system.tables at the time of the request, and a table's rows of the person
 * are found by its columns, by convention (infra/clickhouse/README.md):
 *
 * - `profile_id`, or any column ending in `_profile_id` (String): one of the person's profile ids;
 * - `profile_ids`, or ending in `_profile_ids` (Array(String)): holds one of them;
 * - `identifier_type` with `identifier_value`: one of the person's identifiers;
 * - `identifiers` (Array(String) of `type:value`): holds one of them;
 * - `original_value`, `original_key` (String, base64 of bytes as received: dead letters): the
 *   bytes hold one of the person's identifier values or profile ids as a JSON string (`"v"`) or
 *   an Avro string (its zigzag length, then `v`). Such rows are deleted but never exported: one
 *   input (an HTTP batch) may carry other people too.
 *
 * The person's ids and identifiers are never written into the SQL: every condition reads them
 * from the request's subject rows (privacy_request_subjects) by request id, so neither the
 * mutations ClickHouse keeps on disk (system.mutations) nor a query log holds them.
 *
 * Verification does not trust the convention: it counts, in every table AND view, the rows with
 * one of the person's profile ids, identifier values or `type:value` keys in ANY text column
 * (String, Array(String), Map keys), exactly. A table that holds a person in a way the
 * convention does not see shows up there, and the request is reported unverified.
 */
export interface Store {
  readonly name: string;
  readonly kind: 'table' | 'view';
  readonly engine: string;
  /** Columns by which the convention finds the person (empty: the table holds no person). */
  readonly matchedBy: readonly string[];
  /** Rows deletable with ALTER TABLE … DELETE (the MergeTree family). */
  readonly deletable: boolean;
  readonly personCondition: string | undefined;
  /**
   * The person's rows that name nobody else: every profile and identifier column holds the
   * person's or nothing (an export must not carry another person's ids, e.g. the identifier a
   * shared device's refused link names).
   */
  readonly exclusiveCondition: string | undefined;
  readonly mentionCondition: string | undefined;
  /** Arguments of a parameterized view (`(as_of = now64(3))`), else ''. */
  readonly arguments: string;
}

/** The table that holds subject rows; its own rows of the running request are deleted last. */
export const SUBJECT_TABLE = 'privacy_request_subjects';

const REQUEST = '{kumiki_request:String}';
const subjectRows = `FROM ${SUBJECT_TABLE} WHERE request_id = ${REQUEST}`;
const PROFILE_IDS = `(SELECT profile_id ${subjectRows} AND profile_id != '')`;
const PROFILE_ID_ARRAY = `(SELECT groupArray(profile_id) ${subjectRows} AND profile_id != '')`;
const IDENTIFIERS = `(SELECT identifier_type, identifier_value ${subjectRows} AND identifier_type != '')`;
const IDENTIFIER_KEYS = `(SELECT groupArray(concat(identifier_type, ':', identifier_value)) ${subjectRows} AND identifier_type != '')`;
const everyValue = `(SELECT arrayJoin([profile_id, identifier_value, if(identifier_type = '', '', concat(identifier_type, ':', identifier_value))]) AS v ${subjectRows})`;
const VALUES = `(SELECT v FROM ${everyValue} WHERE v != '')`;
const VALUE_ARRAY = `(SELECT groupArray(v) FROM ${everyValue} WHERE v != '')`;
const RAW_VALUE_ARRAY = `(SELECT groupArray(v) FROM (SELECT arrayJoin([profile_id, identifier_value]) AS v ${subjectRows}) WHERE v != '')`;
/** Avro's string prefix of v: its byte length as a zigzag varint (two bytes cover 8,191 bytes). */
const avroPrefix = (v: string) =>
  `if(length(${v}) < 64, char(2 * length(${v})), char(bitOr(bitAnd(2 * length(${v}), 127), 128), intDiv(2 * length(${v}), 128)))`;

/** Rows whose base64 bytes carry one of the person's values as a JSON or Avro string. */
function inBytes(column: string): string {
  const bytes = `base64Decode(${column})`;
  return `arrayExists(v -> position(${bytes}, concat('"', v, '"')) > 0 OR position(${bytes}, concat(${avroPrefix('v')}, v)) > 0, ${RAW_VALUE_ARRAY})`;
}

interface ColumnRow {
  table: string;
  name: string;
  type: string;
}

/** The tables and views of the database now, with their conditions. */
export async function catalogue(ch: ClickHouse): Promise<Store[]> {
  const tables = await ch.query<{ name: string; engine: string; parameters: string[][] }>(
    `SELECT name, engine, arrayMap(p -> [p.1, p.2], parameterized_view_parameters) AS parameters
     FROM system.tables WHERE database = currentDatabase() AND NOT is_temporary ORDER BY name`,
  );
  const columns = await ch.query<ColumnRow>(
    'SELECT table, name, type FROM system.columns WHERE database = currentDatabase() ORDER BY table, position',
  );
  const byTable = new Map<string, ColumnRow[]>();
  for (const column of columns) byTable.set(column.table, [...(byTable.get(column.table) ?? []), column]);
  return tables
    .filter((t) => t.engine !== 'MaterializedView') // its rows are in its TO table, enumerated on its own
    .map((t) => store(t.name, t.engine, byTable.get(t.name) ?? [], t.parameters));
}

function store(name: string, engine: string, columns: readonly ColumnRow[], parameters: string[][]): Store {
  const names = new Set(columns.map((c) => c.name));
  const matchedBy: string[] = [];
  const person: string[] = [];
  const onlyTheirs: string[] = [];
  const mentions: string[] = [];
  /** Conditions on input bytes: they find the person's rows, but such rows may hold others too. */
  const inInput: string[] = [];
  for (const { name: column, type } of columns) {
    const quoted = backquote(column);
    const text = textKind(type);
    if (text === 'scalar' && (column === 'profile_id' || column.endsWith('_profile_id'))) {
      matchedBy.push(column);
      person.push(`${quoted} IN ${PROFILE_IDS}`);
      onlyTheirs.push(`(${quoted} = '' OR ${quoted} IN ${PROFILE_IDS})`);
    } else if (text === 'array' && (column === 'profile_ids' || column.endsWith('_profile_ids'))) {
      matchedBy.push(column);
      person.push(`hasAny(${quoted}, ${PROFILE_ID_ARRAY})`);
      onlyTheirs.push(`hasAll(${PROFILE_ID_ARRAY}, ${quoted})`);
    } else if (text === 'array' && column === 'identifiers') {
      matchedBy.push(column);
      person.push(`hasAny(${quoted}, ${IDENTIFIER_KEYS})`);
      onlyTheirs.push(`hasAll(${IDENTIFIER_KEYS}, ${quoted})`);
    }
    // Tables only: a view (dead_letters) shows these bytes decoded, and reads them from its table.
    if (engine !== 'View' && text === 'scalar' && (column === 'original_value' || column === 'original_key')) {
      matchedBy.push(column);
      inInput.push(inBytes(quoted));
      mentions.push(inBytes(quoted));
    }
    if (text === 'scalar') mentions.push(`${quoted} IN ${VALUES}`);
    else if (text === 'array') mentions.push(`hasAny(${quoted}, ${VALUE_ARRAY})`);
    else if (text === 'map') mentions.push(`hasAny(mapKeys(${quoted}), ${VALUE_ARRAY})`);
  }
  if (names.has('identifier_type') && names.has('identifier_value')) {
    matchedBy.push('identifier_type', 'identifier_value');
    person.push(`(identifier_type, identifier_value) IN ${IDENTIFIERS}`);
    onlyTheirs.push(`(identifier_type = '' OR (identifier_type, identifier_value) IN ${IDENTIFIERS})`);
  }
  const kind = engine === 'View' ? 'view' : 'table';
  // The subject table holds the running request's own rows on purpose, until its last step.
  const own = name === SUBJECT_TABLE ? ` AND request_id != ${REQUEST}` : '';
  return {
    name,
    kind,
    engine,
    matchedBy,
    deletable: kind === 'table' && engine.endsWith('MergeTree'),
    personCondition: person.length + inInput.length > 0 ? `(${[...person, ...inInput].join(' OR ')})${own}` : undefined,
    exclusiveCondition:
      person.length > 0 ? `(${person.join(' OR ')}) AND ${onlyTheirs.join(' AND ')}${own}` : undefined,
    mentionCondition: mentions.length > 0 ? `(${mentions.join(' OR ')})${own}` : undefined,
    arguments: viewArguments(parameters),
  };
}

/** `now` for every time parameter of a parameterized view (rfm_as_of); other parameters are not supported. */
function viewArguments(parameters: string[][]): string {
  if (parameters.length === 0) return '';
  const given = parameters.map(([name, type]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name ?? '') || !/^DateTime/.test(type ?? ''))
      throw new InternalError(`parameterized view parameter ${name}:${type} has no value to verify with`);
    return `${name} = now64(3)`;
  });
  return `(${given.join(', ')})`;
}

function textKind(type: string): 'scalar' | 'array' | 'map' | undefined {
  const bare = type.replace(/LowCardinality\((.*)\)/, '$1').replace(/Nullable\((.*)\)/, '$1');
  if (bare === 'String' || /^FixedString\(\d+\)$/.test(bare)) return 'scalar';
  if (/^Array\((LowCardinality\()?(Nullable\()?String\)*$/.test(bare)) return 'array';
  if (/^Map\((LowCardinality\()?String\)?,/.test(bare)) return 'map';
  return undefined;
}

/** A name from system.tables or system.columns, quoted for SQL text. */
export function backquote(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

/** Rows of `store` that are the person's by the convention (person) or that mention them anywhere (mentions). */
export async function countRows(
  ch: ClickHouse,
  target: Store,
  requestId: string,
  which: 'person' | 'mentions',
): Promise<number> {
  const condition = which === 'person' ? target.personCondition : target.mentionCondition;
  if (condition === undefined) return 0;
  const [row] = await ch.query<{ n: string }>(
    `SELECT count() AS n FROM ${backquote(target.name)}${target.arguments} WHERE ${condition}`,
    { kumiki_request: requestId },
  );
  return Number(row?.n ?? 0);
}

/**
 * Deletes the person's rows from `stores` with one mutation each (ALTER TABLE … DELETE), issued
 * at once and run by ClickHouse in the background (a synchronous mutation of a large table would
 * hold chDB's parameterised-query lock, and every other query with it, for its whole length),
 * then waits until every mutation of those tables is done, calling `onWait` between looks.
 */
export async function deleteRows(
  ch: ClickHouse,
  stores: readonly Store[],
  requestId: string,
  options: { readonly onWait?: () => Promise<void>; readonly signal?: AbortSignal } = {},
): Promise<void> {
  const targets = stores.filter((s) => s.deletable && s.personCondition !== undefined);
  for (const target of targets) {
    await ch.command(
      `ALTER TABLE ${backquote(target.name)} DELETE WHERE ${target.personCondition}`,
      { kumiki_request: requestId },
      { settings: { mutations_sync: '0', allow_nondeterministic_mutations: 1 } },
    );
  }
  await waitForMutations(
    ch,
    targets.map((t) => t.name),
    options,
  );
}

/** Deletes every subject row of these requests (other requests about the person; the running one's, last). */
export async function deleteRequestRows(
  ch: ClickHouse,
  requestIds: readonly string[],
  options: { readonly onWait?: () => Promise<void>; readonly signal?: AbortSignal } = {},
): Promise<void> {
  if (requestIds.length === 0) return;
  await ch.command(
    `ALTER TABLE ${SUBJECT_TABLE} DELETE WHERE request_id IN {ids:Array(String)}`,
    { ids: [...requestIds] },
    { settings: { mutations_sync: '0' } },
  );
  await waitForMutations(ch, [SUBJECT_TABLE], options);
}

/** Waits until no mutation of `tables` is left to do; a mutation ClickHouse keeps failing is an error. */
export async function waitForMutations(
  ch: ClickHouse,
  tables: readonly string[],
  options: { readonly onWait?: () => Promise<void>; readonly signal?: AbortSignal } = {},
): Promise<void> {
  if (tables.length === 0) return;
  for (let delayMs = 50; ; delayMs = Math.min(1_000, delayMs * 2)) {
    const open = await ch.query<{ table: string; reason: string; parts: string }>(
      `SELECT table, latest_fail_reason AS reason, toString(parts_to_do) AS parts FROM system.mutations
       WHERE database = currentDatabase() AND table IN {tables:Array(String)} AND NOT is_done AND NOT is_killed`,
      { tables: [...tables] },
    );
    if (open.length === 0) return;
    // ClickHouse retries a failing mutation itself; the request is retried from its last checkpoint.
    const failing = open.find((m) => m.reason !== '');
    if (failing)
      throw new DependencyUnavailableError(`ClickHouse cannot delete from ${failing.table} yet: ${failing.reason}`, {
        table: failing.table,
      });
    await options.onWait?.();
    await sleep(delayMs, options.signal);
  }
}
