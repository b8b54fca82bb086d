import type { IHeaders } from 'kafkajs';
import type { OutgoingMessage } from './messages';

export interface TopicMessages {
  readonly topic: string;
  readonly messages: readonly OutgoingMessage[];
}

/**
 * Record bytes one produce request may carry. kafkajs writes all of a request's records for a
 * partition into one record batch, and the broker refuses a batch above `max.message.bytes`
 * (1 MiB by default) however small each record is; bounding the request bounds every batch in
 * it, however the keys fall. A record above the bound still goes, alone.
 */
export const REQUEST_BYTES = 1_000_000;

/** At least a record's size in a record batch: key, value, headers, and the varints and attributes framing them. */
export function recordBytes(message: OutgoingMessage): number {
  let bytes = Buffer.byteLength(message.value ?? '') + Buffer.byteLength(message.key ?? '') + 24;
  if (message.headers)
    for (const [key, value] of Object.entries(message.headers))
      bytes += Buffer.byteLength(key) + Buffer.byteLength(value) + 10;
  return bytes;
}

/** Splits records into sends of at most `maxBytes` (by recordBytes), each record once and in order. */
export function chunked(batches: readonly TopicMessages[], maxBytes = REQUEST_BYTES): TopicMessages[][] {
  const chunks: TopicMessages[][] = [];
  let chunk: TopicMessages[] = [];
  let bytes = 0;
  for (const { topic, messages } of batches) {
    let run: OutgoingMessage[] = [];
    for (const message of messages) {
      const size = recordBytes(message);
      if (bytes + size > maxBytes && bytes > 0) {
        if (run.length > 0) chunk.push({ topic, messages: run });
        chunks.push(chunk);
        chunk = [];
        run = [];
        bytes = 0;
      }
      run.push(message);
      bytes += size;
    }
    if (run.length > 0) chunk.push({ topic, messages: run });
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** Our OutgoingMessage as kafkajs takes it. */
export function toKafkaMessage(message: OutgoingMessage): {
  key: string | Buffer | null;
  value: Buffer | string | null;
  headers?: IHeaders;
  partition?: number;
} {
  // kafkajs only reads messages; most have neither headers nor a partition, and go as they are
  // (no copy per record on the producers' hot paths).
  if (message.headers === undefined && message.partition === undefined) return message;
  return {
    key: message.key,
    value: message.value,
    ...(message.headers ? { headers: { ...message.headers } } : {}),
    ...(message.partition !== undefined ? { partition: message.partition } : {}),
  };
}
