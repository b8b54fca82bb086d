import pino from 'pino';
import { createMetricsRegistry, Counter } from '../../../services/common/metrics';
import { createResultHandler, fieldOf, rejection, type Rejection } from '../../../services/common/result-handler';
import { dlq } from '../../../services/common/step-result';

const origin = { value: Buffer.from('{"x":1}'), key: 'k', topic: 'in', partition: 1, offset: '7', messageId: 'm1' };

function handler(sink: (rejections: readonly Rejection[]) => Promise<void>) {
  const registry = createMetricsRegistry('test');
  const deadLetters = new Counter({
    name: 'test_dead_letters_total',
    help: 'x',
    labelNames: ['code', 'stage'] as const,
    registers: [registry],
  });
  const lines: { level: number; msg: string; stage?: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { results: createResultHandler({ logger, sink, registry, deadLetters }), registry, lines };
}

async function values(registry: ReturnType<typeof createMetricsRegistry>, name: string) {
  const metric = await registry.getSingleMetric(name)!.get();
  return metric.values.map((v) => ({ labels: v.labels, value: v.value }));
}

describe('the result handler', () => {
  it('writes rejections to the sink, then logs each and counts it by step, outcome and code', async () => {
    const written: Rejection[] = [];
    const { results, registry, lines } = handler(async (rejections) => void written.push(...rejections));
    const rejected = rejection({ ...dlq('no identifier', 'KUMIKI_NO_IDENTIFIER'), step: 'resolve-profile' }, origin);
    await results.rejected([rejected, rejected]);
    results.dropped('decode-avro-event', 3);

    expect(written).toEqual([rejected, rejected]);
    expect(await values(registry, 'kumiki_inputs_stopped_total')).toEqual([
      { labels: { step: 'resolve-profile', outcome: 'dlq' }, value: 2 },
      { labels: { step: 'decode-avro-event', outcome: 'drop' }, value: 3 },
    ]);
    expect(await values(registry, 'test_dead_letters_total')).toEqual([
      { labels: { code: 'KUMIKI_NO_IDENTIFIER', stage: 'resolve-profile' }, value: 2 },
    ]);
    expect(lines.map((l) => [l.msg, l.stage])).toEqual([
      ['input dead-lettered', 'resolve-profile'],
      ['input dead-lettered', 'resolve-profile'],
    ]);
    // The payload may be personal data: it is never logged.
    expect(JSON.stringify(lines)).not.toContain('"x":1');
  });

  it('rethrows a failed sink, and then counts and logs nothing as dead-lettered', async () => {
    const { results, registry, lines } = handler(async () => {
      throw new Error('Kafka is down');
    });
    const rejected = rejection({ ...dlq('bad', 'KUMIKI_UNDECODABLE'), step: 'decode-avro-event' }, origin);
    await expect(results.rejected([rejected])).rejects.toThrow('Kafka is down');
    expect(await values(registry, 'kumiki_inputs_stopped_total')).toEqual([]);
    expect(lines.map((l) => l.msg)).toEqual(['dead letters could not be written']);
  });

  it('names the field within the request for HTTP input, as given otherwise', () => {
    const verdict = { ...dlq('x', 'KUMIKI_INVALID_TIMESTAMP', { field: 'timestamp' }), step: 'validate-message' };
    expect(fieldOf(rejection(verdict, { value: Buffer.alloc(0), path: 'batch[3]' }))).toBe('batch[3].timestamp');
    expect(fieldOf(rejection(verdict, { value: Buffer.alloc(0), path: '' }))).toBe('timestamp');
    expect(fieldOf(rejection(verdict, { value: Buffer.alloc(0) }))).toBe('timestamp');
    const whole = { ...dlq('too large', 'KUMIKI_PAYLOAD_TOO_LARGE'), step: 'check-event-size' };
    expect(fieldOf(rejection(whole, { value: Buffer.alloc(0), path: 'batch[1]' }))).toBe('batch[1]');
    expect(fieldOf(rejection(whole, { value: Buffer.alloc(0), path: '' }))).toBeUndefined();
  });
});
