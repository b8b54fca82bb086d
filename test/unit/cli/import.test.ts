import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Event } from '../../../schemas';
import { importFile, importMessageId } from '../../../services/cli/import/import-file';
import { mapRecord, parseMapPairs, parseMappingFile } from '../../../services/cli/import/map-record';
import { csvRecords, csvRows, ndjsonRecords, type FileRecord } from '../../../services/cli/import/read-records';

async function all<T>(generator: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of generator) out.push(item);
  return out;
}

/** A stream that delivers the text in tiny chunks, so records and UTF-8 characters straddle chunk borders. */
function chunked(text: string, size = 3): Readable {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks);
}

describe('csv reading', () => {
  it('handles quotes, doubled quotes, embedded commas and line breaks, CRLF, multi-byte characters across chunks', async () => {
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
    const records: FileRecord[] = await all(csvRecords(chunked('\ufeffEmail,Name\na@x.io,Ann\nb@x.io\n')));
    expect(records).toEqual([
      { line: 2, values: { Email: 'a@x.io', Name: 'Ann' } },
      { line: 3, error: 'has 1 fields, the header has 2' },
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
    expect([...parseMappingFile('{"userId":"CustomerNo"}', 'm.json')]).toEqual([['userId', 'CustomerNo']]);
    expect(() => parseMappingFile('[]', 'm.json')).toThrow('m.json: must be a JSON object');
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
        timestamp: '2024-01-02 10:00:00',
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

  it('rejects a non-numeric amount and bad products, naming the field', () => {
    expect(mapRecord({ order_id: 'o', revenue: 'ten' }, undefined)).toEqual({
      ok: false,
      field: 'properties.revenue',
      reason: 'revenue must be a number, got "ten"',
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
        { line: 4, field: 'properties.revenue', reason: 'revenue must be a number, got "abc"' },
        { line: 5, field: 'timestamp', reason: 'timestamp must be an ISO-8601 date-time, got "03/02/2024"' },
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
