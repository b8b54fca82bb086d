import { DependencyUnavailableError, errorMessage } from '../common/errors';

/**
 * The activator's view of the profile-materializer's read API (chDB belongs to that process, so
 * segments and their members are read through it): whether a segment exists, and (exports) a
 * segment's members as a stream.
 */
export class ReadApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly adminToken: string,
  ) {}

  /** True when a live segment has this id; DependencyUnavailableError when the read API cannot say. */
  async segmentExists(id: string): Promise<boolean> {
    const response = await this.fetch(`/v1/segments/${encodeURIComponent(id)}`);
    await response.body?.cancel();
    if (response.status === 404) return false;
    if (response.ok) return true;
    throw new DependencyUnavailableError(`the read API answered ${response.status} for segment ${id}`, {
      url: this.baseUrl,
    });
  }

  /**
   * POSTs `body` as JSON and answers the JSON answer (undefined for 204); DependencyUnavailableError
   * when the read API does not answer or answers 5xx, an Error with its answer for any other failure.
   */
  async post<T>(pathname: string, body: unknown, signal?: AbortSignal): Promise<T | undefined> {
    const response = await this.fetch(pathname, signal, { method: 'POST', body: JSON.stringify(body) });
    if (response.status === 204) return undefined;
    const text = await response.text();
    if (response.ok) return JSON.parse(text) as T;
    const problem = `the read API answered ${response.status} to POST ${pathname}: ${text.slice(0, 300)}`;
    if (response.status >= 500) throw new DependencyUnavailableError(problem, { url: this.baseUrl });
    throw new Error(problem);
  }

  /** GET (or `init`) with the admin token; DependencyUnavailableError when the read API does not answer. */
  async fetch(pathname: string, signal?: AbortSignal, init?: { method: 'POST'; body: string }): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${pathname}`, {
        headers: {
          authorization: `Bearer ${this.adminToken}`,
          ...(init ? { 'content-type': 'application/json' } : {}),
        },
        ...(init ?? {}),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      throw new DependencyUnavailableError(`the read API at ${this.baseUrl} does not answer: ${errorMessage(error)}`, {
        url: this.baseUrl,
      });
    }
  }
}
