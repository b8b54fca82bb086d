import pino from 'pino';
import { schema } from '../../../../schemas';
import {
  destinationDeadLetters,
  type RefusedDelivery,
} from '../../../../services/activator/delivery/destination-dead-letters';
import type { OutgoingMessage } from '../../../../services/common/kafka/messages';
import { createMetricsRegistry } from '../../../../services/common/metrics';
import { createResultHandler } from '../../../../services/common/result-handler';
import type { AvroCodec } from '../../../../services/common/registry/avro-codec';

/** The activator's refused deliveries go through the one result handler into DestinationDeadLetter records. */
const type = schema('DestinationDeadLetter').type;
const codec = { encode: (_topic: string, value: unknown) => type.toBuffer(value) } as unknown as AvroCodec;

const refused: RefusedDelivery = {
  step: 'deliver-change',
  code: 'KUMIKI_DESTINATION_REJECTED',
  reason: 'HTTP 410',
  origin: { topic: 'changes', partition: 2, offset: '41', key: Buffer.from('p-1'), value: Buffer.from([0, 1, 2]) },
  delivery: {
    destinationId: 'dst_1',
    webhookId: 'msg_abc',
    eventType: 'segment.entered',
    profileId: 'p-1',
    attempts: 3,
    response: { status: 410, headers: { 'x-why': 'gone' }, body: 'gone', latencyMs: 12, error: null },
  },
};

it('writes a refused delivery as a DestinationDeadLetter keyed by destination, then logs and counts it by step', async () => {
  const sent: { topic: string; key: unknown; value: Buffer }[] = [];
  const producer = {
    send: async (topic: string, messages: readonly OutgoingMessage[]) => {
      for (const m of messages) sent.push({ topic, key: m.key, value: m.value as Buffer });
    },
  };
  const registry = createMetricsRegistry('test');
  const lines: Record<string, unknown>[] = [];
  const results = createResultHandler<RefusedDelivery>({
    logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }),
    sink: destinationDeadLetters({
      producer: () => producer,
      codec: () => codec,
      topic: 'dlq',
      now: () => 1_700_000_000_000,
    }),
    registry,
    logFields: ({ delivery }) => ({ destination: delivery.destinationId }),
  });

  await results.rejected([refused]);

  expect(sent.map((m) => ({ topic: m.topic, key: m.key, record: type.fromBuffer(m.value) }))).toEqual([
    {
      topic: 'dlq',
      key: 'dst_1',
      record: {
        destinationId: 'dst_1',
        webhookId: 'msg_abc',
        eventType: 'segment.entered',
        profileId: 'p-1',
        code: 'KUMIKI_DESTINATION_REJECTED',
        reason: 'HTTP 410',
        attempts: 3,
        responseStatus: 410,
        responseHeaders: { 'x-why': 'gone' },
        responseBody: 'gone',
        failedAt: 1_700_000_000_000,
        originalTopic: 'changes',
        originalPartition: 2,
        originalOffset: 41,
        originalKey: Buffer.from('p-1'),
        originalValue: Buffer.from([0, 1, 2]),
      },
    },
  ]);
  expect(lines).toEqual([
    expect.objectContaining({ stage: 'deliver-change', code: 'KUMIKI_DESTINATION_REJECTED', destination: 'dst_1' }),
  ]);
  const stopped = await registry.getSingleMetric('kumiki_inputs_stopped_total')!.get();
  expect(stopped.values).toEqual([
    expect.objectContaining({ labels: { step: 'deliver-change', outcome: 'dlq' }, value: 1 }),
  ]);
});

it('leaves the change unfinished when the dead letter cannot be written', async () => {
  const results = createResultHandler<RefusedDelivery>({
    logger: pino({ level: 'silent' }),
    sink: destinationDeadLetters({
      producer: () => ({ send: async () => Promise.reject(new Error('broker away')) }),
      codec: () => codec,
      topic: 'dlq',
      now: Date.now,
    }),
  });
  await expect(results.rejected([refused])).rejects.toThrow('broker away');
});
