import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { AuditRecord } from '../../../schemas';
import type { EventProducer } from '../kafka/client';
import type { Logger } from '../logger';
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

interface Pending {
  readonly record: AuditRecord;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: unknown) => void;
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
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();
  private readonly lingerMs: number;
  private readonly maxBatch: number;

  constructor(private readonly options: AuditWriterOptions) {
    this.lingerMs = options.lingerMs ?? 2;
    this.maxBatch = options.maxBatch ?? 500;
  }

  get currentWriterId(): string {
    return this.writerId;
  }

  append(fields: AuditFields): Promise<AuditRecord> {
    this.sequence += 1;
    const linked = { ...fields, writerId: this.writerId, sequence: this.sequence, previousHash: this.lastHash };
    const record: AuditRecord = { ...linked, hash: chainHash(linked) };
    this.lastHash = record.hash;
    return new Promise((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.lingerMs);
    });
  }

  /** Resolves once everything appended so far is acknowledged (or failed). */
  async drain(): Promise<void> {
    this.flush();
    await this.sending;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.sending = this.sending.then(() => this.send(batch));
  }

  private async send(batch: Pending[]): Promise<void> {
    if (batch[0]!.record.writerId !== this.writerId) {
      const error = new Error('audit chain restarted after a failed write');
      for (const p of batch) p.reject(error);
      return;
    }
    try {
      await this.options.producer().send(
        this.options.topic,
        batch.map((p) => ({ key: p.record.keyId, value: this.options.encode(this.options.topic, p.record) })),
      );
      for (const p of batch) p.resolve(p.record);
    } catch (error) {
      const lost = { writerId: this.writerId, fromSequence: batch[0]!.record.sequence };
      this.writerId = newWriterId();
      this.sequence = 0;
      this.lastHash = '';
      this.options.logger.error(
        { err: error, ...lost, newWriterId: this.writerId },
        'audit write failed; chain restarted',
      );
      for (const p of batch) p.reject(error);
    }
  }
}

function newWriterId(): string {
  return `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
}
