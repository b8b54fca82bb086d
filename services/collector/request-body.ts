import { isUtf8 } from 'node:buffer';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { ApiError } from '../common/error-codes';
import { isObject, type JsonObject } from '../common/events/validate-message.step';

/**
 * Turns a request body into a JSON object, checking in order: Content-Encoding (gzip,
 * deflate or none), size after decompression (inflating stops at the limit, so a small
 * gzip bomb cannot fill memory), UTF-8, JSON, top level an object. Each failure is an
 * ApiError with its stable code.
 */
const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);

export async function decodeBody(
  raw: Buffer,
  contentEncoding: string | undefined,
  limitBytes: number,
  limitName: string,
): Promise<{ json: JsonObject; bytes: Buffer }> {
  const bytes = await decompress(raw, (contentEncoding ?? '').trim().toLowerCase(), limitBytes, limitName);
  if (bytes.length > limitBytes) throw tooLarge(limitBytes, limitName);
  if (!isUtf8(bytes)) throw new ApiError('KUMIKI_INVALID_ENCODING', 'the body is not valid UTF-8');
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ApiError('KUMIKI_MALFORMED_JSON', `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(json)) throw new ApiError('KUMIKI_MALFORMED_JSON', 'the body must be a JSON object');
  return { json, bytes };
}

async function decompress(raw: Buffer, encoding: string, limitBytes: number, limitName: string): Promise<Buffer> {
  if (encoding === '' || encoding === 'identity') return raw;
  const inflater = encoding === 'gzip' || encoding === 'x-gzip' ? gunzip : encoding === 'deflate' ? inflate : undefined;
  if (!inflater)
    throw new ApiError(
      'KUMIKI_INVALID_ENCODING',
      `Content-Encoding ${encoding} is not supported (use gzip, deflate or none)`,
    );
  try {
    return await inflater(raw, { maxOutputLength: limitBytes + 1 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(limitBytes, limitName);
    throw new ApiError(
      'KUMIKI_INVALID_ENCODING',
      `the body is not valid ${encoding} data: ${(error as Error).message}`,
    );
  }
}

export function tooLarge(limitBytes: number, limitName: string): ApiError {
  return new ApiError(
    'KUMIKI_PAYLOAD_TOO_LARGE',
    `${limitName} is over the limit of ${Math.round(limitBytes / 1024)} KB`,
  );
}

/** The write key of a request: the Basic-auth user, else `writeKey` in the body. */
export function writeKeyFromAuthorization(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Basic\s+(\S+)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon >= 0 ? decoded.slice(0, colon) : decoded;
  return user === '' ? undefined : user;
}
