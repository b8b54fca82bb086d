import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import iconv from 'iconv-lite';
import { KumikiError } from '../../common/errors';
import { countLineBreaks } from './line-breaks';
import { byteOrderMark, encodingLabel, type TextEncoding, unitSize } from './text-encodings';

/**
 * A file's text for `kumiki import`: which encoding it is in, checked whole before anything is
 * sent, then decoded part by part.
 *
 * The encoding is the one given (`--encoding`), else the byte order mark's, else UTF-8 if every
 * byte is valid UTF-8, else CP932 if every byte is valid CP932 (an export from Excel or a
 * Windows back office). A file that is not valid in that encoding is refused with the first bad
 * line and byte offset, never imported half-garbled: decoding would silently turn the bad bytes
 * into replacement characters. Decoding uses iconv-lite's tables (CP932 as Microsoft maps it,
 * e.g. 0x8160 is U+FF5E FULLWIDTH TILDE, as Windows reads it).
 *
 * The file is read in parts that end after a line break: LF, CR and 0x0D 0x0A are single bytes
 * that are never inside a UTF-8 or CP932 character (in UTF-16, whole code units), so each part
 * decodes on its own and the text is the same whatever the part sizes.
 *
 * The digest (the import's messageIds derive from it) is the SHA-256 of the text as UTF-8
 * without a byte order mark: the same export saved as UTF-8, UTF-8 with BOM or CP932 imports as
 * the same events, and for a UTF-8 file without BOM it is the file's own SHA-256.
 */
export interface FileText {
  readonly encoding: TextEncoding;
  /** How the encoding was chosen. */
  readonly chosenBy: 'option' | 'byte order mark' | 'content';
  /** Bytes of the byte order mark skipped at the start. */
  readonly start: number;
  /** SHA-256 (hex) of the text as UTF-8. */
  readonly digest: string;
}

/** Where a file stops being valid text in an encoding. */
export interface InvalidText {
  readonly encoding: TextEncoding;
  /** 1-based line number. */
  readonly line: number;
  /** 0-based byte offset in the file of the first byte of the bad sequence. */
  readonly offset: number;
  /** The bad sequence (with the byte that showed it bad). */
  readonly bytes: Buffer;
  /** The line's text before the bad sequence (its end, at most 24 characters). */
  readonly after: string;
}

/** The file is not text in the encoding given or detected; nothing was sent. */
export class FileEncodingError extends KumikiError {
  readonly isRetriable = false;
}

/**
 * Chooses and checks the encoding in one streaming read, and computes the digest. Throws
 * FileEncodingError naming the first bad line and byte. `onBytes` gets the bytes read, at most
 * the file's size in all (a UTF-8 attempt that fails is not counted twice).
 */
export async function checkFileText(
  file: string,
  forced: TextEncoding | undefined,
  onBytes?: (bytes: number) => void,
): Promise<FileText> {
  const bom = byteOrderMark(await readHead(file, 3));
  let reported = 0;
  const progress = (offset: number): void => {
    if (offset > reported) onBytes?.(offset - reported);
    reported = Math.max(reported, offset);
  };
  if (forced !== undefined || bom !== undefined) {
    const encoding = forced ?? bom!.encoding;
    if (forced !== undefined && bom !== undefined && bom.encoding !== forced)
      throw new FileEncodingError(
        `${file} starts with a ${encodingLabel(bom.encoding)} byte order mark, but --encoding ${forced} was given`,
        { file },
      );
    const start = bom?.length ?? 0;
    const result = await scan(file, encoding, start, progress);
    if ('line' in result)
      throw new FileEncodingError(`${file} is not valid ${encodingLabel(encoding)}: ${describe(result)}`, {
        file,
        encoding,
        line: result.line,
        offset: result.offset,
      });
    return { encoding, chosenBy: forced !== undefined ? 'option' : 'byte order mark', start, digest: result.digest };
  }
  const utf8 = await scan(file, 'utf-8', 0, progress);
  if (!('line' in utf8)) return { encoding: 'utf-8', chosenBy: 'content', start: 0, digest: utf8.digest };
  const cp932 = await scan(file, 'cp932', 0, progress);
  if (!('line' in cp932)) return { encoding: 'cp932', chosenBy: 'content', start: 0, digest: cp932.digest };
  throw new FileEncodingError(
    `${file} is neither UTF-8 nor CP932 (Shift_JIS): as UTF-8, ${describe(utf8)}; as CP932, ${describe(cp932)}. ` +
      'If it is in another encoding, save it as UTF-8 or name the encoding with --encoding.',
    { file, line: Math.min(utf8.line, cp932.line) },
  );
}

/** The file's text from `start`, part by part (see the module comment). Read it only after checkFileText. */
export async function* fileText(
  file: string,
  text: Pick<FileText, 'encoding' | 'start'>,
  onBytes?: (bytes: number) => void,
): AsyncGenerator<string> {
  for await (const part of lineParts(file, text.start, text.encoding, onBytes)) yield decode(part, text.encoding);
}

export function describe(invalid: InvalidText): string {
  const bytes = [...invalid.bytes].map((byte) => `0x${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(' ');
  const after = invalid.after === '' ? '' : ` after ${JSON.stringify(invalid.after)}`;
  return `line ${invalid.line}, byte offset ${invalid.offset} (${bytes})${after}`;
}

async function scan(
  file: string,
  encoding: TextEncoding,
  start: number,
  progress: (offset: number) => void,
): Promise<{ digest: string } | InvalidText> {
  const hash = createHash('sha256');
  let line = 1;
  let offset = start;
  for await (const part of lineParts(file, start, encoding)) {
    // UTF-8 is checked without decoding (native); a decoded CP932 or UTF-16 part is bad if it holds
    // a replacement character (neither can encode one) or a lone surrogate.
    const text = encoding === 'utf-8' ? undefined : decode(part, encoding);
    const valid =
      text === undefined
        ? isUtf8(part)
        : part.length % unitSize(encoding) === 0 && !text.includes('\ufffd') && !LONE_SURROGATE.test(text);
    if (!valid) return locate(part, encoding, line, offset);
    if (text === undefined) hash.update(part);
    else hash.update(text, 'utf8');
    line += countLineBreaks(text ?? part.toString('latin1'));
    offset += part.length;
    progress(offset);
  }
  return { digest: hash.digest('hex') };
}

function decode(part: Buffer, encoding: TextEncoding): string {
  return encoding === 'utf-8' ? part.toString('utf8') : iconv.decode(part, encoding, { stripBOM: false });
}

async function* lineParts(
  file: string,
  start: number,
  encoding: TextEncoding,
  onBytes?: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  let carry: Buffer = EMPTY;
  for await (const chunk of createReadStream(file, { start, highWaterMark: PART_BYTES })) {
    const bytes = chunk as Buffer;
    onBytes?.(bytes.length);
    const buffer = carry.length === 0 ? bytes : Buffer.concat([carry, bytes]);
    const cut = afterLastLineBreak(buffer, encoding);
    carry = buffer.subarray(cut);
    if (cut > 0) yield buffer.subarray(0, cut);
  }
  if (carry.length > 0) yield carry;
}

/**
 * Index after the part's last line break, 0 if none. A CR in the last unit is not a cut: an LF
 * may follow in the next chunk, and CRLF is one line break.
 */
function afterLastLineBreak(buffer: Buffer, encoding: TextEncoding): number {
  if (unitSize(encoding) === 1) {
    const cr = buffer.length >= 2 ? buffer.lastIndexOf(CR, buffer.length - 2) : -1;
    return Math.max(buffer.lastIndexOf(LF), cr) + 1;
  }
  const units = buffer.length >> 1;
  for (let unit = units - 1; unit >= 0; unit--) {
    const code = codeUnit(buffer, unit * 2, encoding);
    if (code === LF || (code === CR && unit < units - 1)) return unit * 2 + 2;
  }
  return 0;
}

function codeUnit(buffer: Buffer, at: number, encoding: TextEncoding): number {
  if (unitSize(encoding) === 1) return buffer[at]!;
  return encoding === 'utf-16le' ? buffer.readUInt16LE(at) : buffer.readUInt16BE(at);
}

/** The first bad sequence of a part known to hold one (rare, so it may be slow). */
function locate(part: Buffer, encoding: TextEncoding, firstLine: number, offset: number): InvalidText {
  const unit = unitSize(encoding);
  let line = firstLine;
  let lineStart = 0;
  for (let at = 0; at <= part.length; at += unit) {
    const code = at + unit <= part.length ? codeUnit(part, at, encoding) : undefined;
    const lineEnds =
      code === undefined ||
      code === LF ||
      (code === CR && (at + 2 * unit > part.length || codeUnit(part, at + unit, encoding) !== LF));
    if (!lineEnds) continue;
    const end = Math.min(part.length, at + unit);
    const bad = firstBadSequence(part.subarray(lineStart, end), encoding);
    if (bad !== undefined) {
      const lineBytes = part.subarray(lineStart, end);
      return {
        encoding,
        line,
        offset: offset + lineStart + bad.at,
        bytes: lineBytes.subarray(bad.at, bad.at + bad.length),
        after: decode(lineBytes.subarray(0, bad.at), encoding).slice(-24),
      };
    }
    line += 1;
    lineStart = end;
  }
  // Unreachable when the part is invalid; a bug otherwise, reported at the part's start.
  return { encoding, line: firstLine, offset, bytes: EMPTY, after: '' };
}

/**
 * Position and length of the first bad sequence of one line. UTF-8 and CP932: the bytes are fed
 * one at a time to a streaming decoder, so the sequence that produced the first replacement
 * character is known exactly (a UTF-8 file may hold a real U+FFFD, EF BF BD, which is fine).
 * UTF-16: a lone surrogate, or an odd byte at the end.
 */
function firstBadSequence(line: Buffer, encoding: TextEncoding): { at: number; length: number } | undefined {
  if (unitSize(encoding) === 2) {
    const text = decode(line.subarray(0, line.length & ~1), encoding);
    const lone = LONE_SURROGATE.exec(text);
    if (lone) return { at: lone.index * 2, length: 2 };
    return line.length % 2 === 1 ? { at: line.length - 1, length: 1 } : undefined;
  }
  const decoder = iconv.getDecoder(encoding, { stripBOM: false });
  let pending = 0;
  for (let i = 0; i < line.length; i++) {
    const out = decoder.write(line.subarray(i, i + 1));
    if (out === '') continue;
    const encodedReplacement = encoding === 'utf-8' && line.subarray(pending, i + 1).equals(UTF8_REPLACEMENT);
    if (out.includes('\ufffd') && !encodedReplacement) return { at: pending, length: i + 1 - pending };
    pending = i + 1;
  }
  return (decoder.end() ?? '').includes('\ufffd') ? { at: pending, length: line.length - pending } : undefined;
}

async function readHead(file: string, length: number): Promise<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);
const PART_BYTES = 256 * 1024;
const UTF8_REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
