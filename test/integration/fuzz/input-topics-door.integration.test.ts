import fc from 'fast-check';
import type { DeadLetter, Event, StitchedEvent } from '../../../schemas';
import { eventWith, schema } from '../../../schemas';
import { errorCodes } from '../../../services/common/error-codes';
import type { EventProducer, OutgoingMessage } from '../../../services/common/kafka/client';
import type { AvroCodec } from '../../../services/common/registry';
import { checkProperty, fuzzTimeout } from '../../support/fuzz';
import { testKafka } from '../../support/kafka';
import { startPipeline, type RunningPipeline } from '../../support/pipeline';
import { decodeAll, readAll, stitcherCodec } from '../../support/stitcher';
import { uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';

/**
 * The input topics' door, fuzzed: what direct producers may write to kumiki.events.raw and
 * kumiki.events.json — random bytes, Confluent frames naming unknown schema ids, our own frames
 * with bodies cut short or flipped, JSON of any shape or depth, tombstones — mixed with valid
 * events, into the whole pipeline. The identity stitcher takes every record exactly once: each
 * valid event is stitched, each other non-empty record is a dead letter with a stable code, its
 * stage and its original bytes; the profile-materializer writes every stitched event to
 * ClickHouse; neither stops or stalls on a record.
 *
 * (kumiki.privacy.requests is not read by any service yet; it joins this door when it is.)
 * Cases are bounded for `npm test`; FUZZ_RUNS=N multiplies them, FUZZ_SEED replays a run.
 */
const kafka = testKafka();
let pipeline: RunningPipeline;
let codec: AvroCodec;
let producer: EventProducer;

beforeAll(async () => {
  pipeline = await startPipeline();
  codec = await stitcherCodec(pipeline.topics);
  producer = kafka.producer();
  await producer.connect();
}, 240_000);

afterAll(async () => {
  await producer?.disconnect();
  await pipeline?.stop();
});

type Record = { readonly topic: 'raw' | 'json'; readonly message: OutgoingMessage; readonly validId?: string };

describe('the input topics under fuzzed records', () => {
  it(
    'stitches every valid event and dead-letters every other record, and keeps going',
    async () => {
      const run = uniqueName('fuzz');
      let sequence = 0;
      const validIds = new Set<string>();
      let nonEmpty = 0;
      const ownSchemaId = codec.schemaIdOf(pipeline.topics.raw)!;
      const eventType = schema('Event').type;
      const valid = fc
        .record({ userId: fc.string({ minLength: 1, maxLength: 30 }), json: fc.boolean() })
        .map(({ userId, json }): Record => {
          const messageId = `${run}-${++sequence}`;
          const event = eventWith({
            messageId,
            type: 'track',
            event: 'Fuzzed',
            // A prefix keeps the id usable whatever the fuzzed text (blank or placeholder ids are refused).
            userId: `u-${userId}`,
            timestamp: Date.now(),
            channel: 'server',
            source: 'fuzz',
          });
          return json
            ? { topic: 'json', message: { key: messageId, value: JSON.stringify(event) }, validId: messageId }
            : {
                topic: 'raw',
                message: { key: messageId, value: codec.encode(pipeline.topics.raw, event) },
                validId: messageId,
              };
        });
      const key = fc.option(fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)));
      const invalid: fc.Arbitrary<Record> = fc.oneof(
        fc
          .tuple(fc.constantFrom('raw', 'json' as const), fc.uint8Array({ maxLength: 3_000 }), key)
          .map(([topic, bytes, k]) => ({
            topic: topic as 'raw' | 'json',
            message: { key: k, value: Buffer.from(bytes) },
          })),
        // A Confluent frame naming a schema id the registry does not have.
        fc
          .tuple(fc.integer({ min: 1_000_000, max: 2 ** 31 - 1 }), fc.uint8Array({ maxLength: 200 }), key)
          .map(([id, body, k]) => {
            const frame = Buffer.alloc(5 + body.length);
            frame.writeUInt8(0, 0);
            frame.writeUInt32BE(id, 1);
            Buffer.from(body).copy(frame, 5);
            return { topic: 'raw' as const, message: { key: k, value: frame } };
          }),
        // Our own frame, its body cut short or with bytes flipped.
        fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.boolean()).map(([at, noise, cut]) => {
          const body = eventType.toBuffer(
            eventWith({
              messageId: `${run}-x-${++sequence}`,
              type: 'page',
              userId: 'u-x',
              timestamp: 0,
              channel: 'web',
              source: 'fuzz',
            }),
          );
          const frame = Buffer.alloc(5 + body.length);
          frame.writeUInt32BE(ownSchemaId, 1);
          body.copy(frame, 5);
          const position = 5 + (at % body.length);
          const broken = cut ? frame.subarray(0, position) : Buffer.from(frame);
          if (!cut)
            for (let i = 0; i < noise.length && position + i < broken.length; i++) broken[position + i] = noise[i]!;
          return { topic: 'raw' as const, message: { key: null, value: broken } };
        }),
        fc
          .jsonValue({ maxDepth: 4 })
          .map((value) => ({ topic: 'json' as const, message: { key: null, value: JSON.stringify(value) } })),
        // Event-shaped JSON with one field of the wrong type or missing.
        fc
          .tuple(
            fc.constantFrom('messageId', 'type', 'timestamp', 'userId', 'properties', 'context', 'consent'),
            fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined)),
          )
          .map(([field, wrong]) => {
            const event: { [k: string]: unknown } = {
              messageId: `${run}-j-${++sequence}`,
              type: 'track',
              event: 'E',
              userId: 'u-j',
              timestamp: 1,
            };
            event[field] = wrong;
            return { topic: 'json' as const, message: { key: null, value: JSON.stringify(event) } };
          }),
        fc
          .constantFrom('raw', 'json' as const)
          .map((topic) => ({ topic: topic as 'raw' | 'json', message: { key: 'tombstone', value: null } })),
      );
      await checkProperty(
        'input topics: records',
        fc.asyncProperty(fc.array(fc.oneof(valid, invalid), { minLength: 1, maxLength: 25 }), async (records) => {
          for (const topic of ['raw', 'json'] as const) {
            const messages = records.filter((r) => r.topic === topic).map((r) => r.message);
            if (messages.length > 0) await producer.send(pipeline.topics[topic], messages);
          }
          for (const record of records) {
            if (record.validId) validIds.add(record.validId);
            const value = record.message.value;
            if (value !== null && value.length > 0) nonEmpty += 1;
          }
        }),
        300,
      );

      // Exactly once each: the valid ones stitched, the rest dead-lettered, nothing stuck.
      let stitched: StitchedEvent[] = [];
      let letters: DeadLetter[] = [];
      await waitFor(
        async () => {
          expect(pipeline.stitcher.child.exitCode).toBeNull();
          stitched = await decodeAll<StitchedEvent>(codec, await readAll(kafka, pipeline.topics.stitched));
          letters = await decodeAll<DeadLetter>(codec, await readAll(kafka, pipeline.topics.dlq));
          if (stitched.length + letters.length < nonEmpty)
            throw new Error(`${stitched.length} stitched + ${letters.length} dead letters of ${nonEmpty} records`);
        },
        { timeoutMs: fuzzTimeout(180_000), intervalMs: 1_000 },
      );
      const stitchedIds = new Set(stitched.map((s) => (s.event as Event).messageId));
      expect([...validIds].filter((id) => !stitchedIds.has(id))).toEqual([]);
      expect(stitched.length + letters.length).toBe(nonEmpty);
      for (const letter of letters) {
        expect(Object.keys(errorCodes)).toContain(letter.code);
        expect(letter.stage).not.toBe('');
        expect(letter.originalValue.length).toBeGreaterThan(0);
      }
      // Every stitched event reaches ClickHouse, whatever it carries.
      await waitFor(
        async () => {
          expect(pipeline.materializer.child.exitCode).toBeNull();
          const [row] = await pipeline.sql<{ n: string }>('SELECT toString(uniqExact(message_id)) AS n FROM events');
          expect(Number(row!.n)).toBe(new Set(stitched.map((s) => (s.event as Event).messageId)).size);
        },
        { timeoutMs: fuzzTimeout(180_000), intervalMs: 1_000 },
      );
      for (const service of [pipeline.stitcher.url, pipeline.materializer.url])
        expect((await fetch(`${service}/ready`)).status).toBe(200);
    },
    fuzzTimeout(240_000),
  );
});
