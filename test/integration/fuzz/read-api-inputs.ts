import fc from 'fast-check';
import { rfmLabels } from '../../../services/profile-materializer/rfm/rfm-labels';

/**
 * What the read and segment APIs' fuzz test sends: rule trees after the grammar of
 * docs/segments.md (valid ones, and ones with noise wherever a value goes) and SQL text from a
 * grammar of ClickHouse pieces and from plain noise.
 */
// Rule trees: the grammar of docs/segments.md, with noise in every place a value goes.
export const noise = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 30 }));
export const op = fc.oneof(
  fc.constantFrom('eq', 'neq', 'in', 'gt', 'gte', 'lt', 'lte', 'range', 'contains', 'exists'),
  fc.string({ maxLength: 8 }),
);
export const scalar = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.double({ noNaN: false }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);
export const duration = fc.oneof(
  fc.record({ days: fc.integer({ min: -5, max: 5000 }) }),
  fc.dictionary(fc.constantFrom('minutes', 'hours', 'days', 'weeks', 'months', 'x'), fc.oneof(fc.integer(), noise), {
    maxKeys: 2,
  }),
  noise,
);
export const comparison = fc.record(
  {
    op,
    value: scalar,
    values: fc.array(scalar, { maxLength: 4 }),
    min: scalar,
    max: scalar,
    part: fc.constantFrom('year', 'month', 'day', 'weekday', 'hour'),
  },
  { requiredKeys: ['op'] },
);
export const eventFilter = fc.record(
  {
    event: fc.oneof(fc.string({ maxLength: 20 }), noise),
    type: fc.oneof(fc.constantFrom('track', 'page', 'screen', 'identify', 'group', 'alias'), noise),
    name: fc.string({ maxLength: 20 }),
    channel: fc.oneof(
      fc.constantFrom('web', 'mobile', 'store', 'import'),
      fc.array(fc.constantFrom('web', 'email', 'x'), { maxLength: 3 }),
      noise,
    ),
    where: fc.array(fc.record({ property: fc.string({ maxLength: 20 }), op, value: scalar }, { requiredKeys: [] }), {
      maxLength: 3,
    }),
  },
  { requiredKeys: [] },
);
export const leaf = fc.oneof(
  fc.tuple(fc.oneof(fc.string({ maxLength: 30 }), noise), comparison).map(([trait, c]) => ({ trait, ...c })),
  fc
    .tuple(
      fc.constantFrom('r_score', 'f_score', 'm_score', 'recency_days', 'frequency', 'monetary', 'label', 'nope'),
      comparison,
    )
    .map(([rfm, c]) => ({ rfm, ...c })),
  fc.record(
    {
      performed: eventFilter,
      within: duration,
      count: comparison,
      sum: fc.record(
        { field: fc.constantFrom('revenue', 'x'), property: fc.string(), op, value: scalar },
        { requiredKeys: [] },
      ),
      notFollowedBy: eventFilter,
      lookback: duration,
    },
    { requiredKeys: ['performed'] },
  ),
  fc.record({ lastPerformed: eventFilter, op, value: duration }, { requiredKeys: ['lastPerformed'] }),
  fc.record(
    {
      channels: fc.oneof(fc.array(fc.constantFrom('web', 'mobile', 'store', 'email', 'x'), { maxLength: 4 }), noise),
      match: fc.constantFrom('any', 'all', 'some'),
      within: duration,
    },
    { requiredKeys: ['channels'] },
  ),
  fc.record({ inSegment: fc.oneof(fc.string({ maxLength: 20 }), noise) }),
  fc.record({ consent: fc.oneof(fc.string({ maxLength: 20 }), noise) }),
  fc.dictionary(fc.string({ maxLength: 10 }), noise, { maxKeys: 3 }),
  noise,
);
// Conditions as the grammar has them, with values of every kind: most trees of these compile.
export const text = fc.string({ maxLength: 30 });
export const days = fc.integer({ min: 1, max: 3_650 }).map((n) => ({ days: n }));
export const numberOp = fc.constantFrom('eq', 'neq', 'gt', 'gte', 'lt', 'lte');
export const validLeaf = fc.oneof(
  fc.record({ trait: text.filter((t) => t.trim() !== ''), op: fc.constantFrom('eq', 'neq', 'contains'), value: text }),
  fc.record({ trait: text.filter((t) => t.trim() !== ''), op: numberOp, value: fc.integer() }),
  fc.record({ trait: text.filter((t) => t.trim() !== ''), op: fc.constant('exists') }),
  fc.record({
    rfm: fc.constantFrom('r_score', 'f_score', 'm_score', 'frequency', 'monetary'),
    op: numberOp,
    value: fc.integer({ min: 0, max: 10_000 }),
  }),
  fc.record({
    rfm: fc.constant('label'),
    op: fc.constant('in'),
    values: fc.subarray([...rfmLabels], { minLength: 1 }),
  }),
  fc.record(
    {
      performed: fc.record({ event: text, type: fc.constantFrom('track', 'page') }, { requiredKeys: [] }),
      within: days,
      count: fc.record({ op: numberOp, value: fc.nat(100) }),
    },
    { requiredKeys: ['performed'] },
  ),
  fc.record({
    performed: fc.record({ event: text }),
    notFollowedBy: fc.record({ event: text }),
    within: days,
    lookback: days,
  }),
  fc.record({ lastPerformed: fc.record({ event: text }, { requiredKeys: [] }), op: numberOp, value: days }),
  fc.record({
    channels: fc.subarray(['web', 'mobile', 'server', 'store', 'email', 'import'], { minLength: 1 }),
    match: fc.constantFrom('any', 'all'),
  }),
  fc.record({ consent: text.filter((t) => t.trim() !== '') }),
);
export const rule: fc.Arbitrary<unknown> = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    validLeaf,
    leaf,
    fc.record({ and: fc.array(tie('node'), { maxLength: 4 }) }),
    fc.record({ or: fc.array(tie('node'), { maxLength: 4 }) }),
    fc.record({ not: tie('node') }),
  ),
})).node;

// SQL: pieces ClickHouse knows (and some it must refuse), glued at random, or plain noise.
export const identifier = fc.oneof(
  fc.constantFrom(
    'profile_id',
    'events',
    'profiles',
    'rfm',
    'identities',
    'segment_members',
    'system.tables',
    'numbers(10)',
    'x',
    '*',
    'count()',
    'traits',
    'rfm_as_of(as_of = now64(3))',
  ),
  fc.string({ maxLength: 12 }),
);
export const literal = fc.oneof(
  fc.integer().map(String),
  fc.double().map(String),
  fc.string({ maxLength: 20 }).map((s) => `'${s.replace(/'/g, "''")}'`),
  fc.string({ maxLength: 20 }).map((s) => `'${s}'`),
  fc.constantFrom('NULL', '[1,2]', "{'a':1}", '{p:String}', '{now:DateTime64(3)}', '1e999', '0x', "'\\'"),
);
export const clause = fc.oneof(
  fc.tuple(identifier, identifier).map(([a, b]) => `SELECT ${a} FROM ${b}`),
  fc.tuple(identifier, identifier, literal).map(([a, b, c]) => `SELECT ${a} FROM ${b} WHERE ${a} = ${c}`),
  fc.tuple(identifier, literal).map(([a, b]) => `SELECT ${a}, ${b}`),
  fc.constantFrom(
    'INSERT INTO events_store SELECT * FROM events_store',
    'DROP TABLE profiles_store',
    'ALTER TABLE events_store DELETE WHERE 1',
    'SET max_execution_time = 0',
    'SYSTEM SHUTDOWN',
    'KILL QUERY WHERE 1',
    'SELECT 1 SETTINGS readonly = 0',
    "SELECT * FROM file('/etc/passwd')",
    "SELECT * FROM url('http://127.0.0.1:1/', CSV)",
    'SELECT sleep(3)',
    'SELECT count() FROM numbers(100000000000)',
    'SELECT * FROM numbers(100000)',
    'SELECT 1; SELECT 2',
    "SELECT 1 INTO OUTFILE '/tmp/x'",
    'SELECT 1 FORMAT Native',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    'SELECT groupArray(number) FROM numbers(10000000)',
    'EXPLAIN SELECT 1',
    'SHOW TABLES',
    'DESCRIBE events',
    '-- only a comment',
    '/* unclosed',
    "SELECT '",
  ),
);
export const sql = fc.oneof(
  fc
    .tuple(fc.array(clause, { minLength: 1, maxLength: 3 }), fc.constantFrom(' ', ' UNION ALL ', ';', '\n', ' -- '))
    .map(([parts, glue]) => parts.join(glue)),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
);
