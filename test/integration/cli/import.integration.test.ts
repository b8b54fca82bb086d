import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import iconv from 'iconv-lite';
import pino from 'pino';
import type { Event } from '../../../schemas';
import { importFile } from '../../../services/cli/import/import-file';
import { parseMapPairs } from '../../../services/cli/import/map-record';
import { DirectProducer } from '../../../services/common/events/direct-producer';
import { AvroCodec, SchemaRegistryClient } from '../../../services/common/registry';
import { createTestTopic, readMessages, testKafka } from '../../support/kafka';
import { testStack, uniqueName } from '../../support/stack-env';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..', '..', '..');

async function kumikiImport(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(root, 'bin', 'kumiki.js'), 'import', ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        KAFKA_BROKERS: testStack().brokers.join(','),
        SCHEMA_REGISTRY_URL: testStack().registryUrl,
      },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

it('kumiki import sends store purchases and CRM rows; importing the same file twice gives the same messageIds', async () => {
  const kafka = testKafka();
  const topic = await createTestTopic(kafka, 'import', 3);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kumiki-import-it-'));
  const file = path.join(dir, 'pos.csv');
  writeFileSync(
    file,
    'Kunde,Mail,Beleg,Summe,Datum\nk-1,ANN@x.io,b-1,19.90,2024-04-01T09:00:00Z\nk-2,bo@x.io,b-2,zwölf,2024-04-01T09:05:00Z\nk-1,ANN@x.io,b-3,5,2024-04-02T10:00:00Z\n',
  );
  const mappingFile = path.join(dir, 'map.json');
  writeFileSync(
    mappingFile,
    JSON.stringify({ userId: 'Kunde', email: 'Mail', order_id: 'Beleg', revenue: 'Summe', timestamp: 'Datum' }),
  );
  const args = [
    file,
    '--mapping',
    mappingFile,
    '--map',
    'properties.currency=Waehrung',
    '--source',
    'pos-hamburg',
    '--topic',
    topic,
  ];

  const first = await kumikiImport(args);
  expect(first.stdout).toContain('(UTF-8, detected; sha256 ');
  expect(first.stdout).toContain('read 3 records, sent 2 events (track 2), rejected 1');
  expect(first.stdout).toContain('line 3: properties.revenue: "zwölf" is not an amount');
  expect(first.code).toBe(1);
  const second = await kumikiImport(args);
  expect(second.stdout).toContain('sent 2 events');

  const codec = new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl }));
  const messages = await readMessages(kafka, topic, 4);
  const events = await Promise.all(
    messages.map(async (m) => ({ key: m.key?.toString(), event: (await codec.decode<Event>(m.value!)).value })),
  );
  expect(events).toHaveLength(4);
  expect(new Set(events.map((e) => e.event.messageId)).size).toBe(2);
  const order = events.find((e) => JSON.parse(e.event.properties).order_id === 'b-1')!;
  expect(order.key).toBe('k-1');
  expect(order.event).toMatchObject({
    type: 'track',
    event: 'Order Completed',
    userId: 'k-1',
    timestamp: Date.UTC(2024, 3, 1, 9),
    channel: 'import',
    source: 'pos-hamburg',
    properties: '{"order_id":"b-1","revenue":19.9}',
    context: '{"library":{"name":"kumiki-import"},"traits":{"email":"ANN@x.io"}}',
  });
  expect(order.event.messageId).toMatch(/^imp-[0-9a-f]{32}$/);
});

// A store export as a Japanese POS back office writes it: kanji and kana names, half-width
// katakana furigana, a full-width email typed at the till, yen amounts, era and slashed dates.
const storeExport =
  '会員番号,氏名,フリガナ,メールアドレス,電話番号,伝票番号,合計金額,購入日時\r\n' +
  'M-0001,山田 太郎,ﾔﾏﾀﾞ ﾀﾛｳ,ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ,０９０－１２３４－５６７８,R-1001,"￥1,200",令和6年5月1日 14:30\r\n' +
  'M-0002,髙橋 花子,タカハシ ハナコ,hanako@example.jp,03-1234-5678,R-1002,"３，５００円",2024/5/2 9:05\r\n' +
  'M-0003,㈱佐藤商店 ①号店,サトウ,info@sato.example,,R-1003,"1,980",R6.5.3\r\n';
const storeMapping = parseMapPairs([
  'userId=会員番号',
  'traits.name=氏名',
  'traits.name_kana=フリガナ',
  'email=メールアドレス',
  'phone=電話番号',
  'order_id=伝票番号',
  'revenue=合計金額',
  'timestamp=購入日時',
]);

it('imports the same store export in UTF-8, UTF-8 with BOM and CP932 as the same events, byte for byte', async () => {
  const kafka = testKafka();
  const topic = await createTestTopic(kafka, 'import-enc');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kumiki-import-enc-'));
  const encodings: [string, Buffer][] = [
    ['utf8', Buffer.from(storeExport)],
    ['utf8-bom', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(storeExport)])],
    ['cp932', iconv.encode(storeExport, 'cp932')],
  ];
  expect(iconv.decode(encodings[2]![1], 'cp932')).toBe(storeExport); // every character survives CP932
  const producer = await DirectProducer.connect({
    brokers: testStack().brokers,
    registryUrl: testStack().registryUrl,
    format: 'avro',
    topic,
    clientId: uniqueName('import-enc'),
    logger: pino({ level: 'silent' }),
  });
  const summaries = [];
  try {
    for (const [name, bytes] of encodings) {
      const file = path.join(dir, `${name}.csv`);
      writeFileSync(file, bytes);
      summaries.push(
        await importFile(
          {
            file,
            source: 'pos-shibuya',
            mapping: storeMapping,
            timeZone: 'Asia/Tokyo',
            currency: 'JPY',
            now: () => Date.UTC(2024, 4, 10),
          },
          (events) => producer.send(events),
        ),
      );
    }
  } finally {
    await producer.close();
  }
  expect(summaries.map((s) => [s.encoding, s.sent, s.rejected])).toEqual([
    ['UTF-8, detected', 3, 0],
    ['UTF-8, byte order mark', 3, 0],
    ['CP932 (Shift_JIS), detected', 3, 0],
  ]);
  expect(new Set(summaries.map((s) => s.fileDigest)).size).toBe(1);

  const messages = await readMessages(kafka, topic, 9);
  expect(messages).toHaveLength(9);
  const runs = [messages.slice(0, 3), messages.slice(3, 6), messages.slice(6, 9)];
  for (const run of runs.slice(1)) {
    expect(run.map((m) => m.key?.toString('hex'))).toEqual(runs[0]!.map((m) => m.key?.toString('hex')));
    expect(run.map((m) => m.value!.toString('hex'))).toEqual(runs[0]!.map((m) => m.value!.toString('hex')));
  }
  const codec = new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl }));
  const events = await Promise.all(runs[0]!.map(async (m) => (await codec.decode<Event>(m.value!)).value));
  expect(events.map((e) => [e.userId, e.timestamp, JSON.parse(e.properties), JSON.parse(e.context).traits])).toEqual([
    [
      'M-0001',
      Date.UTC(2024, 4, 1, 5, 30),
      { order_id: 'R-1001', revenue: 1200, currency: 'JPY' },
      {
        name: '山田 太郎',
        name_kana: 'ﾔﾏﾀﾞ ﾀﾛｳ',
        email: 'ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ',
        phone: '０９０－１２３４－５６７８',
      },
    ],
    [
      'M-0002',
      Date.UTC(2024, 4, 2, 0, 5),
      { order_id: 'R-1002', revenue: 3500, currency: 'JPY' },
      { name: '髙橋 花子', name_kana: 'タカハシ ハナコ', email: 'hanako@example.jp', phone: '03-1234-5678' },
    ],
    [
      'M-0003',
      Date.UTC(2024, 4, 2, 15),
      { order_id: 'R-1003', revenue: 1980, currency: 'JPY' },
      { name: '㈱佐藤商店 ①号店', name_kana: 'サトウ', email: 'info@sato.example' },
    ],
  ]);
});

it('kumiki import refuses a CP932 file with an invalid byte, naming the line, and sends nothing', async () => {
  const kafka = testKafka();
  const topic = await createTestTopic(kafka, 'import-bad');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kumiki-import-bad-'));
  const file = path.join(dir, 'pos.csv');
  const lines = storeExport.split('\r\n');
  const before = iconv.encode(`${lines.slice(0, 2).join('\r\n')}\r\nM-0002,髙橋`, 'cp932');
  // 0x81 0x20: a lead byte followed by a space, as a file cut and pasted between tools can hold.
  writeFileSync(
    file,
    Buffer.concat([before, Buffer.from([0x81, 0x20]), iconv.encode(`${lines.slice(2).join('\r\n')}`, 'cp932')]),
  );

  const result = await kumikiImport([file, '--encoding', 'shift_jis', '--topic', topic, '--no-progress']);
  expect(result.code).toBe(1);
  expect(result.stderr).toBe(
    `kumiki import: ${file} is not valid CP932 (Shift_JIS): line 3, byte offset ${before.length} (0x81 0x20) after "M-0002,髙橋"\nNothing was sent.\n`,
  );
  expect(result.stdout).toBe('');
  const sent = await kafka.readToEnd({ topic, groupIdPrefix: uniqueName('import-bad'), onBatch: () => undefined });
  expect(sent).toBe(0);
});
