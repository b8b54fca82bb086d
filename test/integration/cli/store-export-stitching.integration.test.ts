import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import pino from 'pino';
import { eventWith, type IdentityGraphRecord, type StitchedEvent } from '../../../schemas';
import { importFile } from '../../../services/cli/import/import-file';
import { importSettings, parseMapPairs } from '../../../services/cli/import/map-record';
import { DirectProducer } from '../../../services/common/events/direct-producer';
import { testKafka } from '../../support/kafka';
import { testStack, uniqueName } from '../../support/stack-env';
import {
  createStitcherTopics,
  decodeAll,
  readAll,
  startStitcher,
  stitcherCodec,
  stitcherSetup,
} from '../../support/stitcher';
import { waitFor } from '../../support/wait-for';

/**
 * A store customer types their email in full width at the till; the store's CP932 export goes
 * through `kumiki import`, their web sign-in through the collector's topic in ASCII. The real
 * identity stitcher must make them one profile, by the email and by the phone (read in Japan).
 */
it('joins a full-width email and phone from a CP932 store import with the ASCII ones from the web', async () => {
  const kafka = testKafka();
  const setup = stitcherSetup('st-ja');
  await createStitcherTopics(kafka, setup, 1);
  const codec = await stitcherCodec(setup);

  // The web: a visitor signs in with an ASCII email; another registers a phone number.
  const web = [
    eventWith({
      messageId: 'web-1',
      type: 'identify',
      userId: 'web-user-1',
      anonymousId: 'anon-1',
      timestamp: Date.UTC(2024, 3, 20),
      channel: 'web',
      source: 'web',
      traits: JSON.stringify({ email: 'Taro@Example.com ' }),
    }),
    eventWith({
      messageId: 'web-2',
      type: 'identify',
      userId: 'web-user-2',
      timestamp: Date.UTC(2024, 3, 21),
      channel: 'web',
      source: 'web',
      traits: JSON.stringify({ phone: '+81 80-9876-5432' }),
    }),
  ];
  const producer = kafka.producer();
  await producer.connect();
  await producer.send(
    setup.raw,
    web.map((event) => ({ key: event.userId!, value: codec.encode(setup.raw, event) })),
  );
  await producer.disconnect();

  // The store: a CP932 export with the same people as typed at the till.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kumiki-st-ja-'));
  const file = path.join(dir, 'pos.csv');
  writeFileSync(
    file,
    iconv.encode(
      '伝票番号,氏名,メール,電話,合計,日付\r\n' +
        'R-1,山田 太郎,ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ,,"￥3,300",令和6年5月1日\r\n' +
        'R-2,鈴木 一郎,,０８０－９８７６－５４３２,１，１００円,R6.5.2\r\n',
      'cp932',
    ),
  );
  const direct = await DirectProducer.connect({
    brokers: testStack().brokers,
    registryUrl: testStack().registryUrl,
    format: 'avro',
    topic: setup.raw,
    clientId: uniqueName('st-ja'),
    logger: pino({ level: 'silent' }),
  });
  try {
    const summary = await importFile(
      {
        file,
        source: 'pos-umeda',
        mapping: parseMapPairs([
          'order_id=伝票番号',
          'traits.name=氏名',
          'email=メール',
          'phone=電話',
          'revenue=合計',
          'timestamp=日付',
          'anonymousId=伝票番号',
        ]),
        ...importSettings({ locale: 'ja-JP' }),
      },
      (events) => direct.send(events),
    );
    expect([summary.encoding, summary.sent, summary.rejected]).toEqual(['CP932 (Shift_JIS), detected', 2, 0]);
  } finally {
    await direct.close();
  }

  const stitcher = await startStitcher(setup, { env: { IDENTITY_PHONE_REGION: 'JP' } });
  try {
    const stitched = await waitFor(async () => {
      const events = await decodeAll<StitchedEvent>(codec, await readAll(kafka, setup.stitched));
      if (events.length < 4) throw new Error(`${events.length} of 4 events stitched`);
      return events;
    });
    const profileOf = new Map(stitched.map((s) => [s.event.messageId, s.profileId]));
    const [taroOrder, ichiroOrder] = stitched.filter((s) => s.event.source === 'pos-umeda');
    expect(taroOrder!.identifiers).toContainEqual({ type: 'email', value: 'taro@example.com' });
    expect(ichiroOrder!.identifiers).toContainEqual({ type: 'phone', value: '+818098765432' });
    expect(profileOf.get(taroOrder!.event.messageId)).toBe(profileOf.get('web-1'));
    expect(profileOf.get(ichiroOrder!.event.messageId)).toBe(profileOf.get('web-2'));
    expect(profileOf.get('web-1')).not.toBe(profileOf.get('web-2'));

    // The graph holds each identifier once, in its one spelling.
    const graph = await decodeAll<IdentityGraphRecord>(codec, await readAll(kafka, setup.graph));
    const emails = graph.filter((r) => r.identifier.type === 'email').map((r) => r.identifier.value);
    expect([...new Set(emails)]).toEqual(['taro@example.com']);
  } finally {
    await stitcher.stop();
  }
});
