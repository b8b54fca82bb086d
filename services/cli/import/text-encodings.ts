/**
 * The text encodings `kumiki import` reads, by the names users give them (`--encoding`).
 *
 * `shift_jis` and its aliases are read as CP932 (Windows-31J): that is what Excel and Windows
 * back offices write when they say Shift_JIS, and it is a superset of JIS X 0208 Shift_JIS
 * (NEC special characters such as ① and ㈱, IBM extensions, user-defined characters).
 */
export type TextEncoding = 'utf-8' | 'utf-16le' | 'utf-16be' | 'cp932';

const aliases: Readonly<Record<string, TextEncoding>> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'utf-16le': 'utf-16le',
  utf16le: 'utf-16le',
  'utf-16be': 'utf-16be',
  utf16be: 'utf-16be',
  cp932: 'cp932',
  ms932: 'cp932',
  'windows-31j': 'cp932',
  shift_jis: 'cp932',
  'shift-jis': 'cp932',
  shiftjis: 'cp932',
  sjis: 'cp932',
};

/** The encoding a user's name stands for, or undefined for a name kumiki does not read. */
export function encodingNamed(name: string): TextEncoding | undefined {
  return aliases[name.trim().toLowerCase()];
}

export const encodingChoices = 'utf-8, utf-16le, utf-16be, cp932 (also shift_jis, sjis, windows-31j)';

/** How the encoding is called in messages. */
export function encodingLabel(encoding: TextEncoding): string {
  return encoding === 'cp932' ? 'CP932 (Shift_JIS)' : encoding.toUpperCase();
}

/** Bytes per code unit: a line break is one unit. */
export function unitSize(encoding: TextEncoding): 1 | 2 {
  return encoding === 'utf-16le' || encoding === 'utf-16be' ? 2 : 1;
}

/** The byte order mark the file starts with, if any: it decides the encoding and is not part of the text. */
export function byteOrderMark(head: Buffer): { encoding: TextEncoding; length: number } | undefined {
  if (head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf)
    return { encoding: 'utf-8', length: 3 };
  if (head.length >= 2 && head[0] === 0xff && head[1] === 0xfe) return { encoding: 'utf-16le', length: 2 };
  if (head.length >= 2 && head[0] === 0xfe && head[1] === 0xff) return { encoding: 'utf-16be', length: 2 };
  return undefined;
}
