import type { ClickHouse } from '../../../../services/common/clickhouse/client-factory';
import { streamPages, streamRows } from '../../../../services/profile-materializer/predictions/stream-rows';
import { embeddedHome, freshDatabase } from '../materializer-test-env';

/**
 * Reading a query in pages (how a run reads its training rows and summaries) gives the rows one
 * query gives, in the same order: keys that tie on their leading column and differ on a string,
 * pages that divide the rows exactly and pages that do not.
 */
const home = embeddedHome('stream-pages');
let ch: ClickHouse;

beforeAll(async () => {
  ch = await freshDatabase(home);
});

afterAll(async () => {
  await ch.close();
});

// 23 rows keyed by (a, s): five rows share each a, their s strings run backwards.
const rowsSql = (after: string): string =>
  `SELECT a, s, number FROM (SELECT intDiv(number, 5) AS a, toString(4 - number % 5) AS s, number FROM numbers(23))
   WHERE ${after} ORDER BY a, s`;
const key = [
  { column: 'a', type: 'UInt64' },
  { column: 's', type: 'String' },
];

async function paged(pageSize: number): Promise<unknown[][]> {
  const rows: unknown[][] = [];
  await streamPages(ch, key, pageSize, rowsSql, (row) => rows.push(row));
  return rows;
}

test('pages of any size give the rows of one query in its order', async () => {
  const whole: unknown[][] = [];
  await streamRows(ch, rowsSql('1'), (row) => whole.push(row));
  expect(whole).toHaveLength(23);
  expect(whole.slice(0, 3)).toEqual([
    ['0', '0', '4'],
    ['0', '1', '3'],
    ['0', '2', '2'],
  ]);
  for (const pageSize of [1, 3, 5, 23, 24, 100]) expect(await paged(pageSize)).toEqual(whole);
});
