import type { Batch, IHeaders } from 'kafkajs';
import type { IncomingMessage } from './client';

/** A fetched kafkajs batch as our IncomingMessages. */
export function toIncomingMessages(batch: Batch): IncomingMessage[] {
  return batch.messages.map((m) => ({
    topic: batch.topic,
    partition: batch.partition,
    offset: m.offset,
    key: m.key,
    value: m.value,
    timestamp: m.timestamp,
    headers: normaliseHeaders(m.headers),
  }));
}

function normaliseHeaders(headers: IHeaders | undefined): Record<string, Buffer | undefined> {
  const out: Record<string, Buffer | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    out[name] = first === undefined ? undefined : Buffer.isBuffer(first) ? first : Buffer.from(first);
  }
  return out;
}
