import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
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
 * once). It never follows a redirect (node's http client does not), bounds every attempt by
 * its timeout from the first byte sent to the last byte read, refuses private targets unless
 * allowed, and never rejects: every failure is an answer without a status.
 */
export class WebhookSender {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly inFlight = new Set<http.ClientRequest>();

  constructor(private readonly options: { readonly allowPrivate: boolean; readonly maxSockets: number }) {
    const agentOptions = {
      keepAlive: true,
      maxSockets: options.maxSockets,
      lookup: guardedLookup(options.allowPrivate),
    } as const;
    this.httpAgent = new http.Agent(agentOptions);
    this.httpsAgent = new https.Agent(agentOptions);
  }

  send(request: WebhookRequest): Promise<WebhookResponse> {
    const started = performance.now();
    const { url } = request;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!this.options.allowPrivate && net.isIP(host) && isPrivateAddress(host))
      return Promise.resolve(failure(new PrivateTargetError(host, host), started));
    const secure = url.protocol === 'https:';
    return new Promise<WebhookResponse>((resolve) => {
      let settled = false;
      const finish = (response: WebhookResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inFlight.delete(req);
        resolve(response);
      };
      const req = (secure ? https : http).request(url, {
        method: 'POST',
        agent: secure ? this.httpsAgent : this.httpAgent,
        headers: {
          ...request.headers,
          'content-length': String(
            typeof request.body === 'object' && !Buffer.isBuffer(request.body)
              ? request.body.bytes
              : Buffer.byteLength(request.body),
          ),
        },
      });
      const timer = setTimeout(
        () => req.destroy(new Error(`no complete answer within ${request.timeoutMs} ms`)),
        request.timeoutMs,
      );
      this.inFlight.add(req);
      req.on('error', (error) => finish(failure(error, started)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept < bodyExcerptBytes) {
            chunks.push(chunk.subarray(0, bodyExcerptBytes - kept));
            kept += Math.min(chunk.length, bodyExcerptBytes - kept);
          }
        });
        res.on('error', (error) => finish(failure(error, started)));
        res.on('end', () =>
          finish({
            status: res.statusCode ?? null,
            headers: flatHeaders(res.headers),
            body: Buffer.concat(chunks).toString('utf8'),
            latencyMs: performance.now() - started,
            error: null,
          }),
        );
      });
      const { body } = request;
      if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
      else
        fs.createReadStream(body.file)
          .on('error', (error) => req.destroy(error))
          .pipe(req);
    });
  }

  /** Ends every request in flight (a stop or a rebalance: their outcome no longer counts). */
  abortAll(): void {
    for (const req of this.inFlight) req.destroy(new Error('delivery stopped'));
  }

  close(): void {
    this.abortAll();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
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

function flatHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}
