import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Event } from '../../../schemas';
import { normaliseEvent } from '../../common/events/normalise-event.step';
import { validateMessage } from '../../common/events/validate-message.step';
import { checkFileText, fileText, type FileText } from './file-text';
import { mapRecord, type MapOptions, type Mapping } from './map-record';
import { csvRecords, ndjsonRecords, type FileRecord } from './read-records';
import { encodingLabel, type TextEncoding } from './text-encodings';

/**
 * `kumiki import` without the terminal: streams a file, maps each record to a Segment
 * message, checks and normalises it with the collector's own steps (so an imported event is
 * exactly what the collector would have accepted), and hands events to `send` in batches.
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

  const decoded = fileText(options.file, text, (bytes) => progress?.advance(bytes));
  const records: AsyncGenerator<FileRecord> =
    formatOf(options.file, options.format) === 'csv'
      ? csvRecords(decoded, { delimiter: delimiterOf(options.file, options.delimiter) })
      : ndjsonRecords(decoded);
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
    encoding: encodingSummary(text),
    read,
    sent,
    byType,
    rejected,
    rejects,
    rejectsTruncated: rejected > rejects.length,
  };
}
