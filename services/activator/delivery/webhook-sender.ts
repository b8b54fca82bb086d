import fs from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Agent, type Dispatcher } from 'undici';
import { errorMessage } from '../../common/errors';
import { guardedLookup, isPrivateAddress, PrivateTargetError } from './target-guard';

export interface WebhookRequest {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  /** The body, or a file to stream as the body (an export). */
  readonly body: string | Buffer | { readonly file: string; readonly bytes: number };
  readonly timeoutMs: number;
}

/** What came back; `status` is null when nothing did (the reason is in `error`). */
export interface WebhookResponse {
  readonly status: number | null;
  readonly headers: Readonly<Record<string, string>>;
  /** The first 2 KiB of the answer's body, for the dead-letter record. */
  readonly body: string;
  readonly latencyMs: number;
  readonly error: string | null;
}

const bodyExcerptBytes = 2048;

/**
 * POSTs webhooks for one destination over keep-alive connections (at most `maxSockets` at
 * once), with undici's Agent: it never follows a redirect (no redirect interceptor is set up)
 * and never retries a request by itself. Every attempt is bounded by its timeout from the
 * moment it is handed over to the last byte of the answer: one timer for all the attempts in
 * flight fires at the earliest deadline and ends those past theirs. Private targets are refused
 * unless allowed (a literal address here, a resolved name at every connection). `send` never
 * rejects: every failure is an answer without a status.
 */
export class WebhookSender {
  private readonly agent: Agent;
  private readonly inFlight = new Set<Attempt>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private target: Target | undefined;

  constructor(private readonly options: { readonly allowPrivate: boolean; readonly maxSockets: number }) {
    this.agent = new Agent({
      connections: options.maxSockets,
      pipelining: 1,
      connect: { lookup: guardedLookup(options.allowPrivate) },
    });
  }

  send(request: WebhookRequest): Promise<WebhookResponse> {
    const started = performance.now();
    const target = this.targetOf(request.url);
    if (target.refused) return Promise.resolve(failure(target.refused, started));
    return new Promise<WebhookResponse>((resolve) => {
      const attempt = new Attempt(started, started + request.timeoutMs, request.timeoutMs, resolve, this.inFlight);
      this.inFlight.add(attempt);
      this.arm(attempt.deadline);
      const { body } = request;
      const streamed = typeof body === 'object' && !Buffer.isBuffer(body);
      this.agent.dispatch(
        {
          origin: target.origin,
          path: target.path,
          method: 'POST',
          headers: streamed ? { ...request.headers, 'content-length': String(body.bytes) } : request.headers,
          body: streamed ? fs.createReadStream(body.file) : body,
          // The deadline timer bounds the whole attempt; undici's own timers per request would only repeat it.
          headersTimeout: 0,
          bodyTimeout: 0,
        },
        attempt,
      );
    });
  }

  /** What a URL's requests need, worked out once per URL object (a destination parses its URL once per version). */
  private targetOf(url: URL): Target {
    if (this.target?.url === url) return this.target;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const refused =
      !this.options.allowPrivate && net.isIP(host) && isPrivateAddress(host)
        ? new PrivateTargetError(host, host)
        : undefined;
    this.target = { url, origin: url.origin, path: `${url.pathname}${url.search}`, refused };
    return this.target;
  }

  /** Ends every request in flight (a stop or a rebalance: their outcome no longer counts). */
  abortAll(): void {
    for (const attempt of this.inFlight) attempt.end(new Error('delivery stopped'));
  }

  close(): void {
    this.abortAll();
    clearTimeout(this.timer);
    this.agent.destroy().catch(() => undefined);
  }

  private arm(deadline: number): void {
    if (deadline >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, deadline - performance.now()));
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const attempt of this.inFlight) {
      if (attempt.deadline <= now) attempt.end(new Error(`no complete answer within ${attempt.timeoutMs} ms`));
      else if (attempt.deadline < next) next = attempt.deadline;
    }
    if (next < Number.POSITIVE_INFINITY) this.arm(next);
  }
}

interface Target {
  readonly url: URL;
  readonly origin: string;
  readonly path: string;
  /** Set when the URL names a private address that is not allowed. */
  readonly refused: PrivateTargetError | undefined;
}

/** One request in flight: undici's handler for it, settling its promise once. */
class Attempt implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private settled = false;
  private status: number | null = null;
  private headers: Record<string, string> = {};
  private chunks: Buffer[] = [];
  private kept = 0;

  constructor(
    private readonly started: number,
    readonly deadline: number,
    readonly timeoutMs: number,
    private readonly resolve: (response: WebhookResponse) => void,
    private readonly inFlight: Set<Attempt>,
  ) {}

  /** Ends the attempt now with `error` (a timeout or a stop), aborting the request if it has started. */
  end(error: Error): void {
    this.settle(failure(error, this.started));
    this.controller?.abort(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // Ended while undici was still connecting: it must not go out after all.
    if (this.settled) controller.abort(new Error('delivery ended before the request was sent'));
    else this.controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.status = statusCode;
    const flat: Record<string, string> = {};
    for (const name in headers) {
      const value = headers[name];
      if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    this.headers = flat;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.kept >= bodyExcerptBytes) return;
    const taken = Buffer.from(chunk.subarray(0, bodyExcerptBytes - this.kept));
    this.chunks.push(taken);
    this.kept += taken.length;
  }

  onResponseEnd(): void {
    this.settle({
      status: this.status,
      headers: this.headers,
      body: this.kept === 0 ? '' : Buffer.concat(this.chunks).toString('utf8'),
      latencyMs: performance.now() - this.started,
      error: null,
    });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.settle(failure(error, this.started));
  }

  private settle(response: WebhookResponse): void {
    if (this.settled) return;
    this.settled = true;
    this.inFlight.delete(this);
    this.resolve(response);
  }
}

function failure(error: unknown, started: number): WebhookResponse {
  const code = (error as { code?: string }).code;
  const message = errorMessage(error);
  return {
    status: null,
    headers: {},
    body: '',
    latencyMs: performance.now() - started,
    error: code && !message.includes(code) ? `${code}: ${message}` : message,
  };
}
