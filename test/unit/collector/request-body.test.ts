import zlib from 'node:zlib';
import { decodeBody, writeKeyFromAuthorization } from '../../../services/collector/request-body';

describe('decodeBody', () => {
  const limit = 1024;

  it('reads plain and gzip JSON (with or without a BOM)', async () => {
    await expect(decodeBody(Buffer.from('{"a":1}'), undefined, limit, 'the event')).resolves.toMatchObject({
      json: { a: 1 },
    });
    await expect(decodeBody(zlib.gzipSync('\ufeff{"a":2}'), 'gzip', limit, 'the event')).resolves.toMatchObject({
      json: { a: 2 },
    });
    await expect(decodeBody(zlib.deflateSync('{"a":3}'), 'deflate', limit, 'the event')).resolves.toMatchObject({
      json: { a: 3 },
    });
  });

  it.each([
    ['bad JSON', Buffer.from('{"a":'), undefined, 'KUMIKI_MALFORMED_JSON'],
    ['a JSON array', Buffer.from('[1]'), undefined, 'KUMIKI_MALFORMED_JSON'],
    [
      'Latin-1 bytes',
      Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d]),
      undefined,
      'KUMIKI_INVALID_ENCODING',
    ],
    ['a gzip header on plain text', Buffer.from('{"a":1}'), 'gzip', 'KUMIKI_INVALID_ENCODING'],
    ['an unknown encoding', Buffer.from('{}'), 'br', 'KUMIKI_INVALID_ENCODING'],
    ['a plain body over the limit', Buffer.from(`{"a":"${'x'.repeat(2000)}"}`), undefined, 'KUMIKI_PAYLOAD_TOO_LARGE'],
    [
      'a gzip body that inflates over the limit',
      zlib.gzipSync(`{"a":"${'x'.repeat(5_000_000)}"}`),
      'gzip',
      'KUMIKI_PAYLOAD_TOO_LARGE',
    ],
  ])('refuses %s', async (_name, body, encoding, code) => {
    await expect(decodeBody(body, encoding, limit, 'the event')).rejects.toMatchObject({ code });
  });
});

describe('writeKeyFromAuthorization', () => {
  it('takes the Basic-auth user as the write key', () => {
    expect(writeKeyFromAuthorization(`Basic ${Buffer.from('wk_abc:').toString('base64')}`)).toBe('wk_abc');
    expect(writeKeyFromAuthorization(`basic ${Buffer.from('wk_abc:ignored').toString('base64')}`)).toBe('wk_abc');
    expect(writeKeyFromAuthorization(`Basic ${Buffer.from(':pw').toString('base64')}`)).toBeUndefined();
    expect(writeKeyFromAuthorization('Bearer token')).toBeUndefined();
    expect(writeKeyFromAuthorization(undefined)).toBeUndefined();
  });
});
