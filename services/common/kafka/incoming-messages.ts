import type { Batch, IHeaders } from 'kafkajs';
import type { IncomingMessage } from './messages';

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

/** Shared by every record without headers (most of them): no object per record. */
const NO_HEADERS: Readonly<Record<string, Buffer | undefined>> = Object.freeze({});

function normaliseHeaders(headers: IHeaders | undefined): Readonly<Record<string, Buffer | undefined>> {
  if (headers === undefined) return NO_HEADERS;
  let out: Record<string, Buffer | undefined> | undefined;
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const value = headers[name];
    const first = Array.isArray(value) ? value[0] : value;
    (out ??= {})[name] = first === undefined ? undefined : Buffer.isBuffer(first) ? first : Buffer.from(first);
  }
  return out ?? NO_HEADERS;
}
