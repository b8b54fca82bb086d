import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Event } from '../../../../schemas';
import { importFile, importMessageId } from '../../../../services/cli/import/import-file';
import { importSettings, mapRecord, parseMapPairs, parseMappingFile } from '../../../../services/cli/import/map-record';
import { csvRecords, csvRows, ndjsonRecords, type FileRecord } from '../../../../services/cli/import/read-records';

async function all<T>(generator: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of generator) out.push(item);
  return out;
}

/** Decoded text in tiny chunks, so records, quotes and CRLF pairs straddle chunk borders. */
async function* chunked(text: string, size = 3): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

describe('csv reading', () => {
  it('handles quotes, doubled quotes, embedded commas and line breaks, CRLF, across chunks', async () => {
    const text = 'id,name,note\r\n1,"Müller, Jörg","said ""hi""\nand left"\r\n2,Zoë,\r\n\r\n3,"",x';
    expect(await all(csvRows(chunked(text)))).toEqual([
      { line: 1, fields: ['id', 'name', 'note'] },
      { line: 2, fields: ['1', 'Müller, Jörg', 'said "hi"\nand left'] },
      { line: 4, fields: ['2', 'Zoë', ''] },
      { line: 5, fields: [''] },
      { line: 6, fields: ['3', '', 'x'] },
    ]);
  });

  it('turns rows into records by the header and reports ragged rows by line', async () => {
    const records: FileRecord[] = await all(csvRecords(chunked('Email,Name\na@x.io,Ann\nb@x.io\n')));
    expect(records).toEqual([
      { line: 2, values: { Email: 'a@x.io', Name: 'Ann' } },
      { line: 3, error: 'has 1 fields, the header has 2' },
    ]);
  });

  it('reads as Excel does: quotes inside unquoted fields, ="0120" text, CR-only lines, any delimiter', async () => {
    const text = '品番\t電話\t備考\r4901\t="0120123456"\t5"インチ\r"4,902"\t"=""090"""\t"改行\r入り"\r';
    expect(await all(csvRecords(chunked(text), { delimiter: '\t' }))).toEqual([
      { line: 2, values: { 品番: '4901', 電話: '0120123456', 備考: '5"インチ' } },
      { line: 3, values: { 品番: '4,902', 電話: '090', 備考: '改行\r入り' } },
    ]);
  });

  it('rejects a quoted field that is never closed, from the line it starts on', async () => {
    expect(await all(csvRows(chunked('a,b\n1,2\n3,"open\n4,5\n')))).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['1', '2'] },
      { line: 3, error: 'has a quoted field that is never closed (a " is missing)' },
    ]);
  });
});

describe('ndjson reading', () => {
  it('reads one object per line and reports bad lines', async () => {
    const records = await all(ndjsonRecords(chunked('{"a":1}\n\nnot json\n[1]\n{"b":"ü"}')));
    expect(records).toEqual([
      { line: 1, values: { a: 1 } },
      { line: 3, error: expect.stringMatching(/^is not valid JSON/) },
      { line: 4, error: 'is not a JSON object' },
      { line: 5, values: { b: 'ü' } },
    ]);
  });
});

describe('mapping', () => {
  it('parses --map pairs and mapping files', () => {
    expect([...parseMapPairs(['email=E-Mail', 'order_id=OrderNo', 'traits.tier=Tier'])]).toEqual([
      ['email', 'E-Mail'],
      ['order_id', 'OrderNo'],
      ['traits.tier', 'Tier'],
    ]);
    expect(() => parseMapPairs(['email'])).toThrow('--map email: expected field=Column');
    expect(() => parseMapPairs(['bad field=X'])).toThrow('bad field: a kumiki field is a name like');
    expect(parseMappingFile('{"userId":"CustomerNo"}', 'm.json')).toEqual({
      mapping: new Map([['userId', 'CustomerNo']]),
      types: new Map(),
    });
    expect(() => parseMappingFile('[]', 'm.json')).toThrow('m.json: must be a JSON object');
  });

  it('parses mapping files with settings and typed columns', () => {
    const text = JSON.stringify({
      locale: 'ja-JP',
      fields: { userId: '会員番号', 'traits.birthday': { column: '生年月日', type: 'date' } },
    });
    expect(parseMappingFile(text, 'm.json')).toEqual({
      locale: 'ja-JP',
      mapping: new Map([
        ['userId', '会員番号'],
        ['traits.birthday', '生年月日'],
      ]),
      types: new Map([['traits.birthday', 'date']]),
    });
    expect(() => parseMappingFile('{"fields":{},"zone":"x"}', 'm.json')).toThrow('m.json: zone is not a setting');
    expect(() => parseMappingFile('{"a":{"column":"A","type":"yen"}}', 'm.json')).toThrow(
      'm.json: the type of a must be one of text, number, amount, date, datetime',
    );
  });

  it('takes the time zone and currency given, else the locale defaults, and checks them', () => {
    expect(importSettings({ locale: 'ja-jp' })).toEqual({ timeZone: 'Asia/Tokyo', currency: 'JPY' });
    expect(importSettings({ locale: 'ja-JP', timeZone: 'UTC', currency: 'usd' })).toEqual({
      timeZone: 'UTC',
      currency: 'USD',
    });
    expect(importSettings({})).toEqual({});
    expect(() => importSettings({ timeZone: 'Tokyo' })).toThrow('time zone Tokyo: not an IANA time zone name');
    expect(() => importSettings({ locale: 'de-DE' })).toThrow('locale de-DE: kumiki knows ja-JP');
    expect(() => importSettings({ currency: 'JP¥' })).toThrow('currency JP¥: must be a 3-letter ISO 4217 code');
  });

  it('makes an order row a track Order Completed with traits in context.traits', () => {
    const mapping = parseMapPairs([
      'userId=Customer',
      'email=Mail',
      'order_id=OrderNo',
      'revenue=Total',
      'currency=Cur',
      'timestamp=Date',
      'properties.store=Store',
    ]);
    expect(
      mapRecord(
        {
          Customer: 'c-1',
          Mail: 'a@x.io',
          OrderNo: 'o-9',
          Total: '1,059.90',
          Cur: 'EUR',
          Date: '2024-01-02 10:00:00',
          Store: 'Berlin',
          Other: 'x',
        },
        mapping,
      ),
    ).toEqual({
      ok: true,
      type: 'track',
      message: {
        userId: 'c-1',
        anonymousId: undefined,
        messageId: undefined,
        timestamp: '2024-01-02T10:00:00.000Z',
        event: 'Order Completed',
        properties: { order_id: 'o-9', revenue: 1059.9, currency: 'EUR', store: 'Berlin' },
        context: { library: { name: 'kumiki-import' }, traits: { email: 'a@x.io' } },
      },
    });
  });

  it('makes other rows identify calls; without a mapping, columns are their own fields', () => {
    expect(mapRecord({ userId: 'c-2', email: 'b@x.io', loyalty_id: 'L-1', empty: '' }, undefined)).toEqual({
      ok: true,
      type: 'identify',
      message: {
        userId: 'c-2',
        anonymousId: undefined,
        messageId: undefined,
        timestamp: undefined,
        traits: { email: 'b@x.io', loyalty_id: 'L-1' },
        context: { library: { name: 'kumiki-import' } },
      },
    });
  });

  it('keeps a column named __proto__ as a trait, from the header to the JSON sent', async () => {
    const [record] = await all(csvRecords(chunked('userId,__proto__\nc-3,gold\n')));
    if (!record || 'error' in record) throw new Error('expected a record');
    const mapped = mapRecord(record.values, undefined);
    if (!mapped.ok) throw new Error(mapped.reason);
    expect(JSON.parse(JSON.stringify(mapped.message)).traits).toEqual(JSON.parse('{"__proto__":"gold"}'));
    const viaMapping = mapRecord({ tier: 'gold' }, parseMapPairs(['traits.__proto__=tier']));
    if (!viaMapping.ok) throw new Error(viaMapping.reason);
    expect(JSON.stringify(viaMapping.message.traits)).toBe('{"__proto__":"gold"}');
  });

  it('reads a Japanese store row: yen amounts, era dates in Tokyo, text kept as written in NFC', () => {
    const mapping = parseMapPairs([
      'userId=会員番号',
      'traits.name=氏名',
      'traits.kana=フリガナ',
      'order_id=伝票番号',
      'revenue=合計',
      'tax=消費税',
      'timestamp=購入日時',
    ]);
    const row = {
      会員番号: 'M-001',
      氏名: '山田 太郎 ',
      // NFD, as some Mac exports write it: タ + combining voiced sound mark.
      フリガナ: 'ヤマ\u30bf\u3099 ﾀﾛｳ',
      伝票番号: 'R-1',
      合計: '￥１，３２０',
      消費税: '120円',
      購入日時: '令和6年5月1日 14:30',
    };
    expect(mapRecord(row, mapping, { timeZone: 'Asia/Tokyo' })).toEqual({
      ok: true,
      type: 'track',
      message: {
        userId: 'M-001',
        anonymousId: undefined,
        messageId: undefined,
        timestamp: '2024-05-01T05:30:00.000Z',
        event: 'Order Completed',
        properties: { order_id: 'R-1', revenue: 1320, tax: 120, currency: 'JPY' },
        context: { library: { name: 'kumiki-import' }, traits: { name: '山田 太郎 ', kana: 'ヤマダ ﾀﾛｳ' } },
      },
    });
  });

  it('sets the currency of amounts without one, and refuses a currency that contradicts a yen amount', () => {
    const order = (cells: Record<string, string>) =>
      mapRecord({ order_id: 'o', ...cells }, undefined, { currency: 'JPY' });
    expect(order({ revenue: '1200' })).toMatchObject({ ok: true, message: { properties: { currency: 'JPY' } } });
    expect(order({ revenue: '12', currency: 'usd' })).toMatchObject({
      ok: true,
      message: { properties: { currency: 'USD' } },
    });
    expect(order({ revenue: '1200', currency: '円' })).toMatchObject({
      ok: true,
      message: { properties: { currency: 'JPY' } },
    });
    expect(order({ revenue: '¥1,200', currency: 'USD' })).toEqual({
      ok: false,
      field: 'properties.currency',
      reason: 'currency is "USD", but properties.revenue is written in yen',
    });
  });

  it('reads typed traits: a birthday in an era as a calendar date, points as a number', () => {
    const types = new Map([
      ['traits.birthday', 'date' as const],
      ['traits.points', 'number' as const],
    ]);
    expect(
      mapRecord({ 'traits.birthday': '昭和60年3月15日', 'traits.points': '１，５００' }, undefined, { types }),
    ).toMatchObject({ ok: true, message: { traits: { birthday: '1985-03-15', points: 1500 } } });
    expect(mapRecord({ 'traits.birthday': '昭和65年', userId: 'u' }, undefined, { types })).toEqual({
      ok: false,
      field: 'traits.birthday',
      reason: expect.stringContaining('is not a date kumiki reads'),
    });
  });

  it('rejects a non-numeric amount, an unreadable date and bad products, naming the field', () => {
    expect(mapRecord({ order_id: 'o', revenue: 'ten' }, undefined)).toEqual({
      ok: false,
      field: 'properties.revenue',
      reason: '"ten" is not an amount (e.g. 1200, 1,200.50, ¥1,200, 1,200円)',
    });
    expect(mapRecord({ order_id: 'o', timestamp: '令和元年4月30日' }, undefined)).toEqual({
      ok: false,
      field: 'timestamp',
      reason: '"令和元年4月30日" is before 令和 began (2019-05-01)',
    });
    expect(mapRecord({ order_id: 'o', products: '{' }, undefined)).toEqual({
      ok: false,
      field: 'properties.products',
      reason: 'products must be a JSON array of products',
    });
  });
});

describe('importFile', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kumiki-import-'));
  const file = path.join(dir, 'orders.csv');
  writeFileSync(
    file,
    [
      'CustomerNo,Email,OrderNo,Total,Currency,Date',
      'c-1,a@x.io,o-1,10.5,EUR,2024-03-01T10:00:00Z',
      ',nobody@x.io,o-2,3,EUR,2024-03-01',
      'c-3,c@x.io,o-3,abc,EUR,2024-03-02',
      'c-4,d@x.io,o-4,7,EUR,03/02/2024',
      'c-5,e@x.io,o-5,8,USD,2024-03-03',
    ].join('\n'),
  );
  const mapping = parseMapPairs([
    'userId=CustomerNo',
    'email=Email',
    'order_id=OrderNo',
    'revenue=Total',
    'currency=Currency',
    'timestamp=Date',
  ]);

  it('sends valid rows in batches, with deterministic ids, and lists rejected lines with reasons', async () => {
    const batches: Event[][] = [];
    const summary = await importFile(
      { file, mapping, batchSize: 1, now: () => 1_000 },
      async (events) => void batches.push(events),
    );
    expect(summary).toMatchObject({
      read: 5,
      sent: 2,
      byType: { track: 2 },
      rejected: 3,
      rejects: [
        { line: 3, field: 'userId', reason: 'userId or anonymousId is required' },
        {
          line: 4,
          field: 'properties.revenue',
          reason: '"abc" is not an amount (e.g. 1200, 1,200.50, ¥1,200, 1,200円)',
        },
        {
          line: 5,
          field: 'timestamp',
          reason:
            '"03/02/2024" is not a date kumiki reads (e.g. 2024-05-01, 2024/5/1, 2024年5月1日, 令和6年5月1日, R6.5.1)',
        },
      ],
      rejectsTruncated: false,
    });
    expect(batches).toHaveLength(2);
    expect(batches[0]![0]).toEqual({
      messageId: importMessageId(summary.fileDigest, 2),
      type: 'track',
      event: 'Order Completed',
      name: null,
      userId: 'c-1',
      anonymousId: null,
      previousId: null,
      groupId: null,
      timestamp: Date.UTC(2024, 2, 1, 10),
      sentAt: null,
      receivedAt: 1_000,
      channel: 'import',
      source: 'orders.csv',
      context: '{"library":{"name":"kumiki-import"},"traits":{"email":"a@x.io"}}',
      properties: '{"order_id":"o-1","revenue":10.5,"currency":"EUR"}',
      traits: '{}',
      consent: {},
    });
    const again: Event[] = [];
    await importFile({ file, mapping, now: () => 2_000 }, async (events) => void again.push(...events));
    expect(again.map((e) => e.messageId)).toEqual(batches.flat().map((e) => e.messageId));
  });
});
