import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Event } from '../../../schemas';
import { AvroCodec, SchemaRegistryClient } from '../../../services/common/registry';
import { startCollector, type RunningCollector } from '../../support/collector';
import { readMessages, testKafka } from '../../support/kafka';
import { testStack } from '../../support/stack-env';

const run = promisify(execFile);
let collector: RunningCollector;

beforeAll(async () => {
  collector = await startCollector();
});

afterAll(async () => {
  await collector?.stop();
});

it('kumiki send posts one event with the local write key; a bad one gets the stable error and exit 1', async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'kumiki-send-'));
  writeFileSync(
    path.join(home, 'credentials.json'),
    JSON.stringify({ writeKey: collector.writeKey, adminToken: 'adm_test' }),
    { mode: 0o600 },
  );
  const cliEnv = {
    PATH: process.env.PATH ?? '',
    KUMIKI_HOME: home,
    KUMIKI_COLLECTOR_PORT: new URL(collector.url).port,
  };
  const kumiki = path.resolve(__dirname, '..', '..', '..', 'bin', 'kumiki.js');

  const ok = await run(
    process.execPath,
    [kumiki, 'send', 'track', '{"userId":"cli-user","event":"Tried CLI","messageId":"cli-1"}'],
    { env: cliEnv },
  );
  expect(ok.stdout).toBe('200 {"success":true}\n');
  const bad = await run(process.execPath, [kumiki, 'send', 'identify', '{"traits":{}}'], { env: cliEnv }).catch(
    (error: { code: number; stderr: string }) => error,
  );
  expect(bad).toMatchObject({
    code: 1,
    stderr: '400 {"code":"KUMIKI_MISSING_FIELD","message":"userId or anonymousId is required","field":"userId"}\n',
  });

  const [message] = await readMessages(testKafka(), collector.eventsTopic, 1);
  const codec = new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl }));
  expect((await codec.decode<Event>(message!.value!)).value).toMatchObject({
    messageId: 'cli-1',
    type: 'track',
    event: 'Tried CLI',
    userId: 'cli-user',
    source: 'default',
  });
});
