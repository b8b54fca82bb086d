/**
 * The original bytes of a dead letter, shown as a person can read them: JSON pretty-printed, text
 * as text, a Confluent wire-format record with its schema id (and its fields when the registry
 * knows the schema), anything else as a hex dump. The bytes are never altered; `hex` always shows
 * the first of them as they are.
 */
export type DecodedBytes =
  | { readonly format: 'json'; readonly size: number; readonly text: string; readonly hex: string }
  | { readonly format: 'text'; readonly size: number; readonly text: string; readonly hex: string }
  | {
      readonly format: 'avro';
      readonly size: number;
      readonly schemaId: number;
      /** The record as JSON when it decodes with its writer schema, else null and `error`. */
      readonly text: string | null;
      readonly error: string | null;
      readonly hex: string;
    }
  | { readonly format: 'binary'; readonly size: number; readonly hex: string }
  | { readonly format: 'empty'; readonly size: 0; readonly hex: '' };

/** How many bytes the hex dump shows. */
export const hexDumpBytes = 512;

/** Classifies and renders the bytes; `decodeAvro` reads a wire-format record (the registry's codec). */
export async function decodeDeadLetterBytes(
  bytes: Buffer,
  decodeAvro: (bytes: Buffer) => Promise<unknown>,
): Promise<DecodedBytes> {
  if (bytes.length === 0) return { format: 'empty', size: 0, hex: '' };
  const hex = hexDump(bytes);
  const text = utf8(bytes);
  if (text !== undefined) {
    try {
      return { format: 'json', size: bytes.length, text: JSON.stringify(JSON.parse(text), null, 2), hex };
    } catch {
      if (printable(text)) return { format: 'text', size: bytes.length, text, hex };
    }
  }
  if (bytes.length >= 5 && bytes[0] === 0) {
    const schemaId = bytes.readUInt32BE(1);
    try {
      const value = await decodeAvro(bytes);
      return {
        format: 'avro',
        size: bytes.length,
        schemaId,
        text: JSON.stringify(value, jsonSafe, 2),
        error: null,
        hex,
      };
    } catch (error) {
      return {
        format: 'avro',
        size: bytes.length,
        schemaId,
        text: null,
        error: error instanceof Error ? error.message : String(error),
        hex,
      };
    }
  }
  return { format: 'binary', size: bytes.length, hex };
}

/** Offset, 16 bytes in hex, and their ASCII, per line (as `xxd` prints them). */
export function hexDump(bytes: Buffer, limit = hexDumpBytes): string {
  const lines: string[] = [];
  const shown = bytes.subarray(0, limit);
  for (let offset = 0; offset < shown.length; offset += 16) {
    const row = shown.subarray(offset, offset + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > limit) lines.push(`… ${bytes.length - limit} more bytes`);
  return lines.join('\n');
}

function utf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Text with no control characters other than whitespace. */
function printable(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this looks for
  return !/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text);
}

/** Avro bytes and longs as JSON. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer')
    return Buffer.from((value as { data: number[] }).data).toString('base64');
  return value;
}
