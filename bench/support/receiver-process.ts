import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A webhook receiver for benchmarks, in its own process (forked with IPC) so that neither the
 * activator nor the reference client shares its CPU: answers 200 to every POST, counts them,
 * and for bodies with a `timestamp` (the change's time) records arrival minus that time.
 * Messages: parent → `{ cmd: 'stats' }` / `{ cmd: 'reset', mark? }`; child → `{ port }` once
 * listening, then `{ count, first, last, markedAt, latencies }` for each `stats`. `mark` is a
 * count: the time the receiver reached it is `markedAt` (0 until then), where a warm-up ends.
 */
let count = 0;
let first = 0;
let last = 0;
let mark = 0;
let markedAt = 0;
let latencies: number[] = [];

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const now = Date.now();
    count += 1;
    if (first === 0) first = now;
    if (count === mark) markedAt = now;
    last = now;
    const body = Buffer.concat(chunks).toString('utf8');
    const at = /"timestamp":"([^"]+)"/.exec(body)?.[1];
    if (at && req.headers['x-bench-phase'] !== 'reference') latencies.push(now - Date.parse(at));
    res.writeHead(200, { 'content-length': '0' });
    res.end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});

process.on('message', (message: { cmd: string; mark?: number }) => {
  if (message.cmd === 'stats') process.send?.({ count, first, last, markedAt, latencies });
  if (message.cmd === 'reset') {
    count = 0;
    first = 0;
    last = 0;
    mark = message.mark ?? 0;
    markedAt = 0;
    latencies = [];
    process.send?.({ reset: true });
  }
});
process.on('disconnect', () => process.exit(0));
