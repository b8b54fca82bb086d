import { pipeline, Readable } from 'node:stream';
import { type CsvError, parse } from 'csv-parse';
import { countLineBreaks } from './line-breaks';

/**
 * Streaming readers for `kumiki import`: decoded text (file-text.ts) in, one record at a time
 * out, so memory stays constant whatever the file's size. Each record carries the line it
 * starts on, for the summary's rejected lines.
 *
 * Delimited text (CSV, TSV, any one-character delimiter) is read by csv-parse as Excel reads
 * and writes it: the first record names the columns; a field that starts with `"` is quoted
 * and may hold delimiters, line breaks and doubled quotes (`""`); a quote inside an unquoted
 * field is kept as it is; LF, CRLF or CR line ends. Excel's way of keeping leading zeros,
 * `="0120"`, reads as `0120`.
 */
export type RecordValue = string | number | boolean | null | RecordValue[] | { [key: string]: RecordValue };
export type FileRecord = { line: number; values: Record<string, RecordValue> } | { line: number; error: string };

export interface DelimitedOptions {
  /** One character; default `,`. */
  readonly delimiter?: string;
}

export async function* csvRecords(
  text: AsyncIterable<string>,
  options: DelimitedOptions = {},
): AsyncGenerator<FileRecord> {
  let header: string[] | undefined;
  for await (const row of csvRows(text, options)) {
    if ('error' in row) {
      yield row;
      continue;
    }
    const { line, fields } = row;
    if (!header) {
      header = fields.map((name) => name.trim());
      continue;
    }
    if (fields.length === 1 && fields[0] === '') continue; // blank line
    if (fields.length !== header.length) {
      yield { line, error: `has ${fields.length} fields, the header has ${header.length}` };
      continue;
    }
    // Entries, not assignment: a column named __proto__ stays a column.
    const values = Object.fromEntries(header.map((name, index) => [name, excelText(fields[index]!)]));
    yield { line, values };
  }
}

/** Raw rows with the line each starts on; a quoted field left open at the end is one error row. */
export async function* csvRows(
  text: AsyncIterable<string>,
  options: DelimitedOptions = {},
): AsyncGenerator<{ line: number; fields: string[] } | { line: number; error: string }> {
  // With relaxed quotes and column counts, the one error left is a quote still open at the end
  // of the text: the rest of the file is that field. It is reported once every record is out.
  const skipped: CsvError[] = [];
  const parser = parse({
    delimiter: options.delimiter ?? ',',
    relax_quotes: true,
    relax_column_count: true,
    skip_empty_lines: false,
    skip_records_with_error: true,
    on_skip: (error) => void (error && skipped.push(error)),
  });
  pipeline(Readable.from(text), parser, () => undefined); // a read error reaches the loop below through the parser
  // A record spans one line plus the line breaks inside its quoted fields (csv-parse's `info`
  // says the same, at the cost of two objects per record).
  let line = 1;
  for await (const fields of parser as AsyncIterable<string[]>) {
    yield { line, fields };
    line += 1;
    for (const field of fields) if (field.length > 0) line += countLineBreaks(field);
  }
  for (const error of skipped) {
    if (error.code === 'CSV_QUOTE_NOT_CLOSED')
      yield { line, error: 'has a quoted field that is never closed (a " is missing)' };
    else yield { line, error: error.message };
  }
}

/** `="0120"`: Excel's formula text, written to keep leading zeros; its value is the quoted text. */
function excelText(field: string): string {
  const formula = /^="((?:[^"]|"")*)"$/s.exec(field);
  return formula ? formula[1]!.replace(/""/g, '"') : field;
}

/** NDJSON: one JSON object per line; blank lines are skipped. */
export async function* ndjsonRecords(text: AsyncIterable<string>): AsyncGenerator<FileRecord> {
  let pending = '';
  let line = 0;
  const parse = function* (chunk: string, final: boolean): Generator<FileRecord> {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0 || (final && pending !== '')) {
      const raw = newline >= 0 ? pending.slice(0, newline) : pending;
      pending = newline >= 0 ? pending.slice(newline + 1) : '';
      line += 1;
      const trimmed = raw.trim();
      if (trimmed === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(trimmed);
      } catch (error) {
        yield { line, error: `is not valid JSON: ${(error as Error).message}` };
        continue;
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        yield { line, error: 'is not a JSON object' };
      else yield { line, values: value as Record<string, RecordValue> };
    }
  };
  for await (const chunk of text) yield* parse(chunk, false);
  yield* parse('', true);
}
