import pino from 'pino';
import type { DeliveryAttempt } from '../../../../schemas';
import type { KafkaClient, OutgoingMessage } from '../../../../services/common/kafka/client';
import type { AvroCodec } from '../../../../services/common/registry/avro-codec';
import { DeliveryLog } from '../../../../services/activator/delivery/delivery-log';

/**
 * `durable()` is what a delivery worker awaits before committing: a withheld change has no other
 * trace, so records that could not be written must stay for the next flush, never be dropped.
 */
function attempt(webhookId: string): DeliveryAttempt {
  return {
    destinationId: 'dst_1',
    webhookId,
    eventType: 'segment.entered',
    profileId: 'p-1',
    attempt: 1,
    status: null,
    outcome: 'withheld',
    latencyMs: 0,
    error: 'no_consent: not granted: marketing',
    at: 0,
    sourceTopic: 'changes',
    sourcePartition: 0,
    sourceOffset: 7,
  };
}

/** A log whose topic is away until `back()`; `written` holds each batch that went through. */
function logWithTopicAway(maxBuffered?: number): { log: DeliveryLog; written: string[][]; back: () => void } {
  const written: string[][] = [];
  let down = true;
  const log = new DeliveryLog({
    kafka: {} as KafkaClient,
    admin: () => {
      throw new Error('not used');
    },
    producer: () => ({
      send: async (_topic: string, batch: OutgoingMessage[]) => {
        if (down) throw new Error('broker away');
        written.push(batch.map((m) => (m.value as Buffer).toString()));
      },
    }),
    codec: () => ({ encode: (_topic: string, value: DeliveryAttempt) => Buffer.from(value.webhookId) }) as AvroCodec,
    topic: 'deliveries',
    logger: pino({ level: 'silent' }),
    keep: 10,
    ...(maxBuffered === undefined ? {} : { maxBuffered }),
  });
  return { log, written, back: () => (down = false) };
}

test('records a failed write could not store are written by the next flush, in order', async () => {
  const { log, written, back } = logWithTopicAway();
  log.record(attempt('msg_a'));
  log.record(attempt('msg_b'));
  await expect(log.durable()).rejects.toThrow('the delivery log could not be written');
  log.record(attempt('msg_c'));
  back();
  await log.durable();
  expect(written).toEqual([['msg_a', 'msg_b', 'msg_c']]);
  await log.durable();
  expect(written).toHaveLength(1);
});

test('while the topic stays away, only the newest maxBuffered records are kept', async () => {
  const { log, written, back } = logWithTopicAway(2);
  for (const id of ['msg_a', 'msg_b', 'msg_c']) log.record(attempt(id));
  await expect(log.durable()).rejects.toThrow();
  back();
  await log.durable();
  expect(written).toEqual([['msg_b', 'msg_c']]);
});
