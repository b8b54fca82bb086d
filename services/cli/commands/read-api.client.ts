import { readCredentials } from '../../common/credentials';
import { errorMessage } from '../../common/errors';
import type { CliConfig } from '../config';
import { serviceUrl } from '../local/services';

/** The outcome of one read API call, already turned into what the CLI prints. */
export type ReadApiResult<T> = { ok: true; body: T } | { ok: false; status: number; message: string };

/**
 * Calls the profile-materializer's read API with the admin token (KUMIKI_ADMIN_TOKEN when set,
 * else `.kumiki/credentials.json`). Failures come back as one printable line: the API's own
 * `{ code, message }`, or why the API could not be reached.
 */
export function callReadApi<T>(
  config: CliConfig,
  method: 'GET' | 'POST' | 'DELETE',
  pathname: string,
  body?: unknown,
  /** 'text' hands the body over as it came (exports). */
  answer: 'json' | 'text' = 'json',
): Promise<ReadApiResult<T>> {
  return callAdminApi<T>(
    config,
    'read API',
    config.readApiUrl ?? serviceUrl(config.ports.materializer),
    method,
    pathname,
    body,
    answer,
  );
}

/** The same for the activator's destinations API (KUMIKI_ACTIVATOR_URL, else the local port). */
export function callActivatorApi<T>(
  config: CliConfig,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  pathname: string,
  body?: unknown,
): Promise<ReadApiResult<T>> {
  return callAdminApi<T>(
    config,
    'destinations API',
    config.activatorUrl ?? serviceUrl(config.ports.activator),
    method,
    pathname,
    body,
  );
}

async function callAdminApi<T>(
  config: CliConfig,
  what: string,
  baseUrl: string,
  method: string,
  pathname: string,
  body?: unknown,
  answer: 'json' | 'text' = 'json',
): Promise<ReadApiResult<T>> {
  const token = config.adminToken ?? (await readCredentials(config.paths.credentials))?.adminToken;
  if (!token)
    return {
      ok: false,
      status: 0,
      message: `no admin token: set KUMIKI_ADMIN_TOKEN or run \`kumiki up\` (which writes ${config.paths.credentials})`,
    };
  const url = `${baseUrl}${pathname}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    return {
      ok: false,
      status: 0,
      message: `the ${what} at ${url} does not answer (${errorMessage(error)}); is \`kumiki up\` running?`,
    };
  }
  const text = await response.text();
  if (response.ok && answer === 'text') return { ok: true, body: text as T };
  let parsed: unknown;
  try {
    parsed = text === '' ? {} : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok) return { ok: true, body: parsed as T };
  const error = parsed as { code?: string; message?: string } | undefined;
  return {
    ok: false,
    status: response.status,
    message: error?.code ? `${error.code}: ${error.message ?? ''}` : `HTTP ${response.status}: ${text.slice(0, 500)}`,
  };
}

/** Prints a failed call and gives the exit code: 1 for the API's refusal, 1 when unreachable. */
export function reportFailure(command: string, result: { status: number; message: string }): number {
  process.stderr.write(`kumiki ${command}: ${result.message}\n`);
  return 1;
}

/** `type:value` as the CLI takes identifiers (`email:ann@example.com`); the value may hold colons. */
export function parseIdentifier(raw: string): { type: string; value: string } | undefined {
  const index = raw.indexOf(':');
  if (index <= 0 || index === raw.length - 1) return undefined;
  return { type: raw.slice(0, index), value: raw.slice(index + 1) };
}
