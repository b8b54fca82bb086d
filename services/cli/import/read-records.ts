import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * Streaming readers for `kumiki import`: a file is read chunk by chunk and handed on one
 * record at a time, so memory stays constant whatever the file's size.
 *
 * CSV follows RFC 4180: the first record names the columns; fields may be quoted, quoted
 * fields may hold commas, doubled quotes and line breaks; CRLF or LF line ends. Each record
 * carries the line number it starts on, for the summary's rejected lines.
 */
export type RecordValue = string | number | boolean | null | RecordValue[] | { [key: string]: RecordValue };
export type FileRecord = { line: number; values: Record<string, RecordValue> } | { line: number; error: string };

export async function* csvRecords(stream: Readable, onBytes?: (bytes: number) => void): AsyncGenerator<FileRecord> {
  let header: string[] | undefined;
  for await (const { line, fields } of csvRows(stream, onBytes)) {
    if (!header) {
      header = fields.map((name, index) => (index === 0 ? name.replace(/^\ufeff/, '') : name).trim());
      continue;
    }
    if (fields.length === 1 && fields[0] === '') continue; // blank line
    if (fields.length !== header.length) {
      yield { line, error: `has ${fields.length} fields, the header has ${header.length}` };
      continue;
    }
    const values: Record<string, RecordValue> = {};
    header.forEach((name, index) => {
      values[name] = fields[index]!;
    });
    yield { line, values };
  }
}

/** Raw CSV rows with the line each starts on. */
export async function* csvRows(
  stream: Readable,
  onBytes?: (bytes: number) => void,
): AsyncGenerator<{ line: number; fields: string[] }> {
  const decoder = new StringDecoder('utf8');
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let quoteSeen = false; // a quote inside a quoted field: either the end or the first of a pair
  let line = 1;
  let rowStart = 1;
  let rowHasData = false;
  const rows: { line: number; fields: string[] }[] = [];

  const endRow = (): void => {
    fields.push(field);
    rows.push({ line: rowStart, fields });
    fields = [];
    field = '';
    rowHasData = false;
  };

  const consume = (text: string): void => {
    for (let i = 0; i < text.length; i++) {
      const char = text[i]!;
      if (quoteSeen) {
        quoteSeen = false;
        if (char === '"') {
          field += '"';
          continue;
        }
        inQuotes = false; // the quote closed the field; fall through to handle char
      }
      if (inQuotes) {
        if (char === '"') quoteSeen = true;
        else {
          if (char === '\n') line += 1;
          field += char;
        }
        continue;
      }
      if (!rowHasData) {
        rowStart = line;
        rowHasData = true;
      }
      if (char === '"' && field === '') inQuotes = true;
      else if (char === ',') {
        fields.push(field);
        field = '';
      } else if (char === '\n') {
        if (field.endsWith('\r')) field = field.slice(0, -1);
        endRow();
        line += 1;
      } else field += char;
    }
  };

  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    onBytes?.(buffer.length);
    consume(decoder.write(buffer));
    yield* rows.splice(0);
  }
  consume(decoder.end());
  if (quoteSeen) inQuotes = false;
  if (rowHasData || field !== '' || fields.length > 0) {
    if (field.endsWith('\r')) field = field.slice(0, -1);
    endRow();
  }
  yield* rows.splice(0);
}

/** NDJSON: one JSON object per line; blank lines are skipped. */
export async function* ndjsonRecords(stream: Readable, onBytes?: (bytes: number) => void): AsyncGenerator<FileRecord> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let line = 0;
  const parse = function* (text: string, final: boolean): Generator<FileRecord> {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0 || (final && pending !== '')) {
      const raw = newline >= 0 ? pending.slice(0, newline) : pending;
      pending = newline >= 0 ? pending.slice(newline + 1) : '';
      line += 1;
      const trimmed = raw.replace(/^\ufeff/, '').trim();
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
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    onBytes?.(buffer.length);
    yield* parse(decoder.write(buffer), false);
  }
  yield* parse(decoder.end(), true);
}
