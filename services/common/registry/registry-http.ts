import http from 'node:http';
import https from 'node:https';

/** The HTTP details of talking to a schema registry: kumiki's direct calls and reading the library's failures. */

/** One HTTP(S) request through `agent`, its body read whole; rejects on a socket or TLS failure or timeout. */
export function exchange(
  url: string,
  options: {
    method: string;
    agent: http.Agent;
    timeoutMs: number;
    headers: Record<string, string>;
    body?: string;
  },
): Promise<{ status: number; text: string }> {
  const transport = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      url,
      { method: options.method, agent: options.agent, headers: options.headers, timeout: options.timeoutMs },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`Timeout (${options.timeoutMs} ms)`)));
    request.on('error', reject);
    request.end(options.body);
  });
}

export function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

export function stripClientId(message: string, clientId: string): string {
  return message.startsWith(`${clientId} - `) ? message.slice(clientId.length + 3) : message;
}

/** mappersmith reports connection failures as status 400 carrying the system error text. */
export function isNetworkFailure(message: string): boolean {
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|socket hang up|Timeout \(/i.test(
    message,
  );
}

export function registryMessage(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : undefined;
  } catch {
    return text.trim() || undefined;
  }
}
