/**
 * The read API, as the console calls it: same origin, `Authorization: Bearer <key>`, JSON.
 * Every failure becomes an ApiFailure with the API's stable `code` (or NETWORK when nothing
 * answered), which the page turns into a message in the user's language (ErrorMessage).
 */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }
}

export interface ApiClient {
  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  /** The answer's bytes (downloads). */
  blob(path: string): Promise<Blob>;
}

export function createApiClient(key: string, onUnauthorized: (failure: ApiFailure) => void): ApiClient {
  const call = async (method: string, path: string, body?: unknown): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new ApiFailure(0, 'NETWORK', error instanceof Error ? error.message : String(error));
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => '');
    let parsed: { code?: unknown; message?: unknown; field?: unknown } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // not JSON: a proxy or a server that is starting
    }
    const failure = new ApiFailure(
      response.status,
      typeof parsed.code === 'string' ? parsed.code : `HTTP_${response.status}`,
      typeof parsed.message === 'string' ? parsed.message : text.slice(0, 500) || response.statusText,
      typeof parsed.field === 'string' ? parsed.field : undefined,
    );
    if (response.status === 401) onUnauthorized(failure);
    throw failure;
  };
  const url = (path: string, query?: Record<string, string | number | undefined>): string => {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {}))
      if (value !== undefined && value !== '') params.set(name, String(value));
    const search = params.toString();
    return search ? `${path}?${search}` : path;
  };
  return {
    get: async (path, query) => (await call('GET', url(path, query))).json(),
    post: async (path, body) => (await call('POST', path, body)).json(),
    blob: async (path) => (await call('GET', path)).blob(),
  };
}

/** GET /v1/whoami: what the key may see (the read API decides it in one place). */
export interface KeyGrants {
  readonly keyId: string;
  readonly name: string;
  readonly role: string;
  readonly scopes: readonly string[];
}
