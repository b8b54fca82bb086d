import type { IHeaders } from 'kafkajs';
import type { OutgoingMessage } from './client';

/** Our OutgoingMessage as kafkajs takes it. */
export function toKafkaMessage(message: OutgoingMessage): { key: string | Buffer | null; value: Buffer | string | null; headers?: IHeaders; partition?: number } {
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
