import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { AuditRecord } from '../../../schemas';
import type { EventProducer } from '../kafka/client';
import type { Logger } from '../logger';
import { LingerQueue } from '../linger-queue';
import { type AuditFields, chainHash } from './audit-record';

export interface AuditWriterOptions {
  readonly producer: () => EventProducer;
  readonly topic: string;
  readonly encode: (topic: string, value: AuditRecord) => Buffer;
  readonly service: string;
  readonly logger: Logger;
  /** How long a record waits for others to share its produce (default 2 ms). */
  readonly lingerMs?: number;
  readonly maxBatch?: number;
}

/**
 * Writes AuditRecords to `kumiki.audit`, durable before the call's answer: `append` resolves
 * once Kafka acknowledged the record (acks=all, idempotent producer), and access control sends
 * the answer only then. Records of calls that arrive within `lingerMs` share one produce, so a
 * busy API pays one round trip per batch rather than per call.
 *
 * The chain: the writer numbers its records from 1 and links each to the previous one's hash.
 * Batches go one at a time, in order. When one fails, its callers (and those queued behind it)
 * get the error, which access control answers 503; the writer then starts a new chain under a
 * new writer id, so the records that never reached Kafka leave no gap in a chain that verify
 * would call tampering.
 */
export class AuditWriter {
  private writerId = newWriterId();
  private sequence = 0;
  private lastHash = '';
  private readonly queue: LingerQueue<AuditRecord>;

  constructor(private readonly options: AuditWriterOptions) {
    this.queue = new LingerQueue({
      lingerMs: options.lingerMs ?? 2,
      maxBatch: options.maxBatch ?? 500,
      send: (batch) => this.send(batch),
    });
  }

  get currentWriterId(): string {
    return this.writerId;
  }

  async append(fields: AuditFields): Promise<AuditRecord> {
    this.sequence += 1;
    const linked = { ...fields, writerId: this.writerId, sequence: this.sequence, previousHash: this.lastHash };
    const record: AuditRecord = { ...linked, hash: chainHash(linked) };
    this.lastHash = record.hash;
    await this.queue.push(record);
    return record;
  }

  /** Resolves once everything appended so far is acknowledged (or failed). */
  drain(): Promise<void> {
    return this.queue.drain();
  }

  private async send(batch: AuditRecord[]): Promise<void> {
    if (batch[0]!.writerId !== this.writerId) throw new Error('audit chain restarted after a failed write');
    try {
      await this.options.producer().send(
        this.options.topic,
        batch.map((record) => ({ key: record.keyId, value: this.options.encode(this.options.topic, record) })),
      );
    } catch (error) {
      const lost = { writerId: this.writerId, fromSequence: batch[0]!.sequence };
      this.writerId = newWriterId();
      this.sequence = 0;
      this.lastHash = '';
      this.options.logger.error(
        { err: error, ...lost, newWriterId: this.writerId },
        'audit write failed; chain restarted',
      );
      throw error;
    }
  }
}

function newWriterId(): string {
  return `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
}
