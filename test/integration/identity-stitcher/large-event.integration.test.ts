/**
 * An input as large as the input topics take (the broker's default, 1 MiB) must not stop the
 * stitcher. Its stitched record is larger than the input (a head goes before it), so the stitched
 * and dead-letter topics take more (topics.ts, OUTPUT_MESSAGE_BYTES). With the default limit on
 * the stitched topic, every transaction holding that record failed, and the stitcher recovered
 * and failed on it again, forever: nothing after it was stitched. A dead letter of such an input
 * (its original bytes and the reason) is larger than the input likewise.
 */
import type { DeadLetter, Event, StitchedEvent } from '../../../schemas';
import { testKafka } from '../../support/kafka';
import {
  createStitcherTopics,
  decodeAll,
  readAll,
  startStitcher,
  stitcherCodec,
  stitcherSetup,
} from '../../support/stitcher';
import { waitFor } from '../../support/wait-for';

const kafka = testKafka();
/** An input record value this long still fits the raw topic's 1 MiB record batch. */
const LARGEST_INPUT_BYTES = 1_048_500;

function event(messageId: string, userId: string, blob: string): Event {
  const now = Date.now();
  return {
    messageId,
    type: 'track',
    event: 'Catalog Exported',
    name: null,
    userId,
    anonymousId: null,
    previousId: null,
    groupId: null,
    timestamp: now,
    sentAt: null,
    receivedAt: now,
    channel: 'server',
    source: 'large-event-test',
    context: '{}',
    properties: JSON.stringify({ blob }),
    traits: '{}',
    consent: {},
  };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

test('stitches an event as large as the input topic takes, and the events after it', async () => {
  const setup = stitcherSetup('large');
  await createStitcherTopics(kafka, setup, 1);
  const codec = await stitcherCodec(setup);
  // A blob that brings the encoded record to the size wanted (its length's varint grows with it).
  let blobBytes = LARGEST_INPUT_BYTES - codec.encode(setup.raw, event('large-1', 'u-large', '')).length;
  let large = event('large-1', 'u-large', 'x'.repeat(blobBytes));
  while (codec.encode(setup.raw, large).length > LARGEST_INPUT_BYTES) {
    blobBytes -= codec.encode(setup.raw, large).length - LARGEST_INPUT_BYTES;
    large = event('large-1', 'u-large', 'x'.repeat(blobBytes));
  }
  const small = event('small-2', 'u-small', 'y');
  const value = codec.encode(setup.raw, large);
  expect(value.length).toBeGreaterThan(LARGEST_INPUT_BYTES - 3);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send(setup.raw, [{ key: 'u-large', value }]);
  // Just as large and not Avro at all: its dead letter carries it whole, plus the reason.
  await producer.send(setup.raw, [{ key: 'u-junk', value: Buffer.alloc(LARGEST_INPUT_BYTES, 0x7b) }]);
  await producer.send(setup.raw, [{ key: 'u-small', value: codec.encode(setup.raw, small) }]);
  await producer.disconnect();

  const stitcher = await startStitcher(setup);
  try {
    await waitFor(async () => expect(await metric(stitcher.url, 'kumiki_stitcher_events_total')).toBe(3), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    expect(await metric(stitcher.url, 'kumiki_stitcher_recoveries_total')).toBe(0);
    const stitched = await decodeAll<StitchedEvent>(codec, await readAll(kafka, setup.stitched));
    expect(stitched.map((s) => s.event.messageId).sort()).toEqual(['large-1', 'small-2']);
    const stitchedLarge = stitched.find((s) => s.event.messageId === 'large-1')!;
    expect(stitchedLarge.event.properties).toBe(large.properties);
    expect(stitchedLarge.identifiers).toEqual([{ type: 'user_id', value: 'u-large' }]);
    const letters = await decodeAll<DeadLetter>(codec, await readAll(kafka, setup.dlq));
    expect(letters.map((l) => [l.stage, l.originalValue.length])).toEqual([['decode-avro-event', LARGEST_INPUT_BYTES]]);
  } finally {
    await stitcher.stop();
  }
}, 120_000);
