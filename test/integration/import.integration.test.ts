import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Event } from '../../schemas';
import { AvroCodec, SchemaRegistryClient } from '../../services/common/registry';
import { createTestTopic, readMessages, testKafka } from '../support/kafka';
import { testStack } from '../support/stack-env';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..', '..');

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
  expect(first.stdout).toContain('read 3 records, sent 2 events (track 2), rejected 1');
  expect(first.stdout).toContain('line 3: properties.revenue: revenue must be a number, got "zwölf"');
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
