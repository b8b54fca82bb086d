import { appendFileSync, closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

/**
 * The chaos run's webhook receiver, run as a process of its own (the harness kills and restarts
 * it like a service; webhook-receiver-process.ts starts it). It verifies every request's
 * Standard Webhooks signature with the `standardwebhooks` package (not kumiki's code) and, before
 * it answers 204, appends one JSON line to its file and fsyncs it:
 * `{ "id": webhook-id, "body": … }`, or `{ "invalid": reason }` for a request that does not
 * verify (answered 401). What it answered 204 is on disk, so a restart loses nothing; a request
 * cut off by a kill may be recorded and then sent again (a duplicate, which at-least-once allows).
 *
 * Settings (environment): HTTP_PORT, RECEIVER_FILE (the record), RECEIVER_SECRET_FILE (the
 * destination's `whsec_…` secret, written by the harness once the destination exists; until
 * then requests are answered 503, which the activator retries).
 */
const port = Number(process.env.HTTP_PORT);
const file = process.env.RECEIVER_FILE!;
const secretFile = process.env.RECEIVER_SECRET_FILE!;
const fd = openSync(file, 'a');
let verifier: Webhook | undefined;

function currentVerifier(): Webhook | undefined {
  if (verifier) return verifier;
  try {
    const secret = readFileSync(secretFile, 'utf8').trim();
    if (secret) verifier = new Webhook(secret);
  } catch {
    // Not written yet.
  }
  return verifier;
}

function record(line: Record<string, unknown>): void {
  appendFileSync(fd, `${JSON.stringify(line)}\n`);
  fsyncSync(fd);
}

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    if (request.method === 'GET') {
      response.writeHead(request.url === '/ready' ? 200 : 404).end();
      return;
    }
    const hook = currentVerifier();
    if (!hook) {
      response.writeHead(503, { 'retry-after': '1' }).end();
      return;
    }
    const body = Buffer.concat(chunks).toString('utf8');
    const id = request.headers['webhook-id'];
    try {
      hook.verify(body, request.headers as Record<string, string>);
    } catch (error) {
      record({ invalid: `${(error as Error).message}`, id: typeof id === 'string' ? id : null });
      response.writeHead(401).end();
      return;
    }
    record({ id, body });
    response.writeHead(204).end();
  });
});

server.listen(port, '127.0.0.1', () => process.stdout.write(`receiving on ${port}, recording to ${file}\n`));
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => {
    server.close();
    closeSync(fd);
    process.exit(0);
  });
