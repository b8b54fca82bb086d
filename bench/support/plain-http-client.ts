import http from 'node:http';

/**
 * The reference a webhook sender is measured against: node's own HTTP client posting `count`
 * copies of `body` with webhook-like headers and nothing else, `concurrency` at a time over
 * keep-alive connections. Gives requests/s and CPU seconds per request.
 */
export async function plainHttpPosts(
  url: string,
  body: string,
  concurrency: number,
  count: number,
): Promise<{ rate: number; cpuPerRequest: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL(url);
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'webhook-id': 'msg_reference',
    'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
    'webhook-signature': `v1,${'x'.repeat(44)}`,
    'x-bench-phase': 'reference',
  };
  const post = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.request(target, { method: 'POST', agent, headers }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(body);
    });
  let next = 0;
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        await post();
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  agent.destroy();
  return { rate: count / seconds, cpuPerRequest: (used.user + used.system) / 1e6 / count };
}
