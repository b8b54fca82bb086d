import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Event } from '../../../schemas';
import { normaliseEvent } from '../../collector/steps/normalise-event.step';
import { validateMessage } from '../../collector/steps/validate-message.step';
import { mapRecord, type MapOptions, type Mapping } from './map-record';
import { csvRecords, ndjsonRecords, type FileRecord } from './read-records';

/**
 * `kumiki import` without the terminal: streams a file, maps each record to a Segment
 * message, checks and normalises it with the collector's own steps (so an imported event is
 * exactly what the collector would have accepted), and hands events to `send` in batches.
 * At most one batch is held at a time, so memory stays constant.
 *
 * Deterministic messageIds: unless a column is mapped to messageId, an event's id is
 * `imp-` + sha256(sha256(file bytes) + ':' + line). Importing the same file again produces the
 * same ids, which every stage downstream deduplicates, so a re-run (after a failure half-way,
 * or by mistake) creates no duplicates. The file's digest costs one extra streaming read.
 */
export interface ImportOptions extends MapOptions {
  readonly file: string;
  readonly format?: 'csv' | 'ndjson';
  readonly mapping?: Mapping;
  /** Event `source`; default the file's name. */
  readonly source?: string;
  readonly batchSize?: number;
  /** How many rejected lines the summary lists (all are counted). */
  readonly maxRejectsListed?: number;
  readonly now?: () => number;
}

export interface ImportSummary {
  readonly file: string;
  readonly fileDigest: string;
  readonly read: number;
  readonly sent: number;
  readonly byType: Record<string, number>;
  readonly rejected: number;
  readonly rejects: { line: number; field?: string; reason: string }[];
  readonly rejectsTruncated: boolean;
}

export interface ImportProgress {
  /** Called with the total bytes of both passes once known, then with bytes as they are read. */
  start(totalBytes: number): void;
  advance(bytes: number): void;
}

export function formatOf(file: string, format?: 'csv' | 'ndjson'): 'csv' | 'ndjson' {
  if (format) return format;
  return /\.(nd)?jsonl?$/i.test(file) ? 'ndjson' : 'csv';
}

export async function fileDigest(file: string, onBytes?: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return hash.digest('hex');
}

export function importMessageId(digest: string, line: number): string {
  return `imp-${createHash('sha256').update(`${digest}:${line}`).digest('hex').slice(0, 32)}`;
}

export async function importFile(
  options: ImportOptions,
  send: (events: Event[]) => Promise<void>,
  progress?: ImportProgress,
  fileSize?: number,
): Promise<ImportSummary> {
  const now = options.now ?? Date.now;
  const batchSize = options.batchSize ?? 500;
  const maxListed = options.maxRejectsListed ?? 1000;
  const source = { source: options.source ?? path.basename(options.file), channel: 'import' as const };
  if (fileSize !== undefined) progress?.start(fileSize * 2);
  const digest = await fileDigest(options.file, (bytes) => progress?.advance(bytes));

  let read = 0;
  let sent = 0;
  let rejected = 0;
  const rejects: ImportSummary['rejects'] = [];
  const byType: Record<string, number> = {};
  let batch: Event[] = [];
  const reject = (line: number, reason: string, field?: string): void => {
    rejected += 1;
    if (rejects.length < maxListed) rejects.push(field ? { line, field, reason } : { line, reason });
  };
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const sending = batch;
    batch = [];
    await send(sending);
    sent += sending.length;
    for (const event of sending) byType[event.type] = (byType[event.type] ?? 0) + 1;
  };

  const stream = createReadStream(options.file, { highWaterMark: 256 * 1024 });
  const records: AsyncGenerator<FileRecord> =
    formatOf(options.file, options.format) === 'csv'
      ? csvRecords(stream, (b) => progress?.advance(b))
      : ndjsonRecords(stream, (b) => progress?.advance(b));
  for await (const record of records) {
    read += 1;
    if ('error' in record) {
      reject(record.line, `line ${record.error}`);
      continue;
    }
    const mapped = mapRecord(record.values, options.mapping, options);
    if (!mapped.ok) {
      reject(record.line, mapped.reason, mapped.field);
      continue;
    }
    const validated = validateMessage(
      { ...mapped.message, messageId: mapped.message.messageId ?? importMessageId(digest, record.line) },
      { type: mapped.type },
    );
    if (validated.kind !== 'ok') {
      if (validated.kind === 'dlq') reject(record.line, validated.reason, validated.field);
      continue;
    }
    const normalised = normaliseEvent(validated.value, { receivedAt: now(), batchSentAt: undefined, source });
    if (normalised.kind !== 'ok') {
      if (normalised.kind === 'dlq') reject(record.line, normalised.reason, normalised.field);
      continue;
    }
    batch.push(normalised.value);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  return {
    file: options.file,
    fileDigest: digest,
    read,
    sent,
    byType,
    rejected,
    rejects,
    rejectsTruncated: rejected > rejects.length,
  };
}
