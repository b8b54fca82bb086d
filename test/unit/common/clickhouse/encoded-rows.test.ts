import { encodeRows } from '../../../../services/common/clickhouse/encoded-rows';

describe('encodeRows', () => {
  it('writes one JSON array per row, values in the order of the columns, a missing value as null', () => {
    const rows = [
      { id: 'a', n: 1, tags: ['x'], note: 'say "hi"\n' },
      { id: 'b', n: 2, tags: [] as string[] },
    ];
    expect(encodeRows(rows, ['n', 'id', 'tags', 'note'])).toEqual({
      columns: ['n', 'id', 'tags', 'note'],
      count: 2,
      body: '[1,"a",["x"],"say \\"hi\\"\\n"]\n[2,"b",[],null]\n',
    });
  });

  it('encodes no rows as an empty body', () => {
    expect(encodeRows([] as { id: string }[], ['id'])).toEqual({ columns: ['id'], count: 0, body: '' });
  });
});
