import { createHash } from 'node:crypto';
import path from 'node:path';
import pino from 'pino';
import type { Event } from '../../../schemas';
import { createResultHandler, rejection } from '../../common/result-handler';
import { checkFileText, fileText, type FileText } from './file-text';
import { importPath } from './import-path';
import type { MapOptions, Mapping } from './map-record';
import { csvRecords, ndjsonRecords, type FileRecord } from './read-records';
import { encodingLabel, type TextEncoding } from './text-encodings';

/**
 * `kumiki import` without the terminal: streams a file, takes each record through its path
 * (import-path.ts: mapped to a Segment message, then checked and normalised by the collector's
 * own steps), and hands events to `send` in batches. Rejected records go through the one result
 * handler into the summary.
 * At most one batch is held at a time, so memory stays constant.
 *
 * The first streaming read chooses and checks the file's encoding (file-text.ts) and computes
 * its digest: a file that is not valid text is refused (FileEncodingError) before anything is
 * sent. The second read decodes and parses it.
 *
 * Deterministic messageIds: unless a column is mapped to messageId, an event's id is
 * `imp-` + sha256(digest + ':' + line), where the digest is the SHA-256 of the file's text as
 * UTF-8. Importing the same file again produces the same ids, which every stage downstream
 * deduplicates, so a re-run (after a failure half-way, or by mistake) creates no duplicates;
 * so does the same export saved in another encoding.
 */
export interface ImportOptions extends MapOptions {
  readonly file: string;
  /** `csv` (any delimiter) or `ndjson`; default from the file's extension. */
  readonly format?: 'csv' | 'ndjson';
  /** Default: tab for .tsv and .tab files, else comma. */
  readonly delimiter?: string;
  /** Default: detected (file-text.ts). */
  readonly encoding?: TextEncoding;
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
  /** SHA-256 of the file's text as UTF-8 (the file's own for UTF-8 without BOM). */
  readonly fileDigest: string;
  /** The encoding read, and whether it was given, marked or detected. */
  readonly encoding: string;
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

export function delimiterOf(file: string, delimiter?: string): string {
  return delimiter ?? (/\.(tsv|tab)$/i.test(file) ? '\t' : ',');
}

function encodingSummary(text: FileText): string {
  const how = { option: 'given', 'byte order mark': 'byte order mark', content: 'detected' }[text.chosenBy];
  return `${encodingLabel(text.encoding)}, ${how}`;
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
  const text = await checkFileText(options.file, options.encoding, (bytes) => progress?.advance(bytes));
  const digest = text.digest;

  let read = 0;
  let sent = 0;
  let rejected = 0;
  const rejects: ImportSummary['rejects'] = [];
  const byType: Record<string, number> = {};
  let batch: Event[] = [];
  // The summary is where this command's dead letters go.
  const results = createResultHandler({
    logger: pino({ level: 'silent' }),
    sink: async (rejections) => {
      for (const { origin, reason, field } of rejections) {
        rejected += 1;
        const line = origin.index!;
        if (rejects.length < maxListed) rejects.push(field ? { line, field, reason } : { line, reason });
      }
    },
  });
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const sending = batch;
    batch = [];
    await send(sending);
    sent += sending.length;
    for (const event of sending) byType[event.type] = (byType[event.type] ?? 0) + 1;
  };

  const decoded = fileText(options.file, text, (bytes) => progress?.advance(bytes));
  const records: AsyncGenerator<FileRecord> =
    formatOf(options.file, options.format) === 'csv'
      ? csvRecords(decoded, { delimiter: delimiterOf(options.file, options.delimiter) })
      : ndjsonRecords(decoded);
  const toEvent = importPath({
    ...options,
    messageIdOf: (line) => importMessageId(digest, line),
    source,
    now,
  });
  for await (const record of records) {
    read += 1;
    const outcome = toEvent.runNow(record);
    if (outcome.kind === 'ok') {
      batch.push(outcome.value);
      if (batch.length >= batchSize) await flush();
    } else if (outcome.kind === 'dlq') {
      const value = Buffer.from(JSON.stringify('values' in record ? record.values : null));
      await results.rejected([rejection(outcome, { value, index: record.line })]);
    } else results.dropped(outcome.step);
  }
  await flush();
  return {
    file: options.file,
    fileDigest: digest,
    encoding: encodingSummary(text),
    read,
    sent,
    byType,
    rejected,
    rejects,
    rejectsTruncated: rejected > rejects.length,
  };
}
