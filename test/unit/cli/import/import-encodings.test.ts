import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { checkFileText, FileEncodingError, fileText } from '../../../../services/cli/import/file-text';
import { encodingNamed } from '../../../../services/cli/import/text-encodings';

const dir = mkdtempSync(path.join(os.tmpdir(), 'kumiki-encodings-'));
let files = 0;
function file(bytes: Buffer | string): string {
  const name = path.join(dir, `f${(files += 1)}.csv`);
  writeFileSync(name, bytes);
  return name;
}

async function textOf(name: string, forced?: Parameters<typeof checkFileText>[1]): Promise<string> {
  const checked = await checkFileText(name, forced);
  let text = '';
  for await (const part of fileText(name, checked)) text += part;
  return text;
}

async function refusal(name: string, forced?: Parameters<typeof checkFileText>[1]): Promise<FileEncodingError> {
  const error = await checkFileText(name, forced).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(FileEncodingError);
  return error as FileEncodingError;
}

// A store export as a Japanese back office writes it: kanji, kana, half-width katakana, NEC
// special characters (①, ㈱), full-width letters and the full-width yen sign.
const exportText =
  '会員番号,氏名,フリガナ,メール,金額\r\n' +
  'M-001,山田 太郎,ﾔﾏﾀﾞ ﾀﾛｳ,ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ,"￥1,200"\r\n' +
  'M-002,㈱髙橋商店 ①号店,タカハシ,info@example.jp,３，５００円\r\n';
const utf8Digest = createHash('sha256').update(exportText).digest('hex');

describe('the encoding of an import file', () => {
  it.each([
    ['UTF-8', Buffer.from(exportText), 'utf-8', 'content'],
    [
      'UTF-8 with BOM',
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(exportText)]),
      'utf-8',
      'byte order mark',
    ],
    [
      'UTF-16LE with BOM',
      Buffer.concat([Buffer.from([0xff, 0xfe]), iconv.encode(exportText, 'utf-16le')]),
      'utf-16le',
      'byte order mark',
    ],
    [
      'UTF-16BE with BOM',
      Buffer.concat([Buffer.from([0xfe, 0xff]), iconv.encode(exportText, 'utf-16be')]),
      'utf-16be',
      'byte order mark',
    ],
    ['CP932', iconv.encode(exportText, 'cp932'), 'cp932', 'content'],
  ])('%s: detected, decoded to the same text, with the same digest', async (_name, bytes, encoding, chosenBy) => {
    const name = file(bytes);
    expect(await checkFileText(name, undefined)).toEqual({
      encoding,
      chosenBy,
      start: chosenBy === 'byte order mark' ? (encoding === 'utf-8' ? 3 : 2) : 0,
      digest: utf8Digest,
    });
    expect(await textOf(name)).toBe(exportText);
  });

  it('reads a forced encoding, and refuses one that contradicts the byte order mark', async () => {
    expect(await textOf(file(iconv.encode(exportText, 'utf-16le')), 'utf-16le')).toBe(exportText);
    expect(await textOf(file(iconv.encode(exportText, 'cp932')), encodingNamed('Shift_JIS'))).toBe(exportText);
    const bom = await refusal(file(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a\n')])), 'cp932');
    expect(bom.message).toContain('starts with a UTF-8 byte order mark, but --encoding cp932 was given');
  });

  it('refuses an invalid CP932 sequence, naming the line, the byte offset and the bytes', async () => {
    const good = iconv.encode('会員番号,氏名\r\nM-001,山田\r\n', 'cp932');
    const line3 = iconv.encode('M-002,佐藤', 'cp932');
    // 0x85 is a lead byte CP932 leaves unassigned; the rest is fine.
    const bytes = Buffer.concat([good, line3, Buffer.from([0x85, 0x40]), iconv.encode('花子\r\n', 'cp932')]);
    const offset = good.length + line3.length;
    const error = await refusal(file(bytes), 'cp932');
    expect(error.message).toMatch(
      new RegExp(`is not valid CP932 \\(Shift_JIS\\): line 3, byte offset ${offset} \\(0x85\\) after "M-002,佐藤"$`),
    );
    expect(error.context).toMatchObject({ line: 3, offset });
  });

  it('names a lead byte without its trail byte, and a truncated last character', async () => {
    const cut = Buffer.concat([iconv.encode('a,b\n', 'cp932'), Buffer.from([0x82, 0x0a])]);
    expect((await refusal(file(cut), 'cp932')).message).toContain('line 2, byte offset 4 (0x82 0x0A)');
    const end = Buffer.concat([iconv.encode('a,b\n山', 'cp932'), Buffer.from([0x93])]);
    expect((await refusal(file(end), 'cp932')).message).toContain('line 2, byte offset 6 (0x93) after "山"');
  });

  it('refuses a file that is neither UTF-8 nor CP932, saying where each reading failed', async () => {
    const bytes = Buffer.concat([iconv.encode('会員番号\n', 'cp932'), Buffer.from([0xfd, 0x0a])]);
    const error = await refusal(file(bytes));
    expect(error.message).toContain('is neither UTF-8 nor CP932 (Shift_JIS): as UTF-8, line 1, byte offset 0 (0x89');
    expect(error.message).toContain('as CP932, line 2, byte offset 9 (0xFD)');
  });

  it('refuses invalid UTF-8 when UTF-8 is named, and takes a real U+FFFD in UTF-8 as text', async () => {
    const bytes = Buffer.concat([Buffer.from('name\nZoë\nab'), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]);
    expect((await refusal(file(bytes), 'utf-8')).message).toBe(
      `${path.join(dir, `f${files}.csv`)} is not valid UTF-8: line 3, byte offset 12 (0xC3 0x28) after "ab"`,
    );
    expect(await textOf(file('a\n\ufffd\n'))).toBe('a\n\ufffd\n');
  });

  it('refuses a lone surrogate or an odd byte in UTF-16', async () => {
    const lone = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      iconv.encode('a\nb', 'utf-16le'),
      Buffer.from([0x00, 0xd8]),
    ]);
    expect((await refusal(file(lone))).message).toContain('is not valid UTF-16LE: line 2, byte offset 8 (0x00 0xD8)');
    const odd = Buffer.concat([Buffer.from([0xfe, 0xff]), iconv.encode('a\n', 'utf-16be'), Buffer.from([0x00])]);
    expect((await refusal(file(odd))).message).toContain('is not valid UTF-16BE: line 2, byte offset 6 (0x00)');
  });

  it('counts CR-only and CRLF line ends, and decodes the same across read parts', async () => {
    const cr = Buffer.concat([iconv.encode('a\rb\r\nc\r', 'cp932'), Buffer.from([0x85, 0x40])]);
    expect((await refusal(file(cr), 'cp932')).message).toContain('line 4, byte offset 7');
    // Parts of 256 KiB: two-byte characters and CRLF pairs straddle their borders somewhere.
    const rows = Array.from({ length: 40_000 }, (_, i) => `${i},山田 ﾀﾛｳ ${'髙'.repeat(i % 7)},\u3000x\r`).join('\n');
    for (const encoding of ['cp932', 'utf-16le'] as const) {
      const bytes = iconv.encode(rows, encoding);
      expect(bytes.length).toBeGreaterThan(3 * 256 * 1024);
      const name = file(bytes);
      expect(await textOf(name, encoding)).toBe(rows);
      expect((await checkFileText(name, encoding)).digest).toBe(createHash('sha256').update(rows).digest('hex'));
    }
  });
});
