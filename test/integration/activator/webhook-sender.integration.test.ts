import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WebhookSender } from '../../../services/activator/delivery/webhook-sender';
import { waitFor } from '../../support/wait-for';

/**
 * The webhook sender against real HTTP servers on this machine: what it sends, what it hands
 * back, and the bounds it keeps — redirects answered but never followed, every attempt ended by
 * its timeout even when the receiver answers slowly byte by byte, private targets refused when
 * not allowed (a literal address, and a name resolved at connection), connections kept alive.
 */
interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

const servers: http.Server[] = [];
const senders: WebhookSender[] = [];

afterEach(async () => {
  for (const sender of senders.splice(0)) sender.close();
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise((resolve) => {
          server.closeAllConnections();
          server.close(resolve);
        }),
    ),
  );
});

async function serve(handler: Handler): Promise<{ url: string; seen: Seen[]; connections: () => number }> {
  const seen: Seen[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      handler(req, res, body);
    });
  });
  server.on('connection', () => (connections += 1));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    connections: () => connections,
  };
}

function sender(allowPrivate = true): WebhookSender {
  const created = new WebhookSender({ allowPrivate, maxSockets: 4 });
  senders.push(created);
  return created;
}

const headers = { 'content-type': 'application/json', 'webhook-id': 'msg_1' };

test('posts the body with its headers and hands back the status, headers and the first 2 KiB of the answer', async () => {
  const long = 'x'.repeat(10_000);
  const receiver = await serve((_req, res) => {
    res.writeHead(503, { 'retry-after': '7', 'x-two': ['a', 'b'] });
    res.end(long);
  });
  const response = await sender().send({
    url: new URL(`${receiver.url}/hooks?x=1`),
    headers,
    body: '{"type":"segment.entered"}',
    timeoutMs: 10_000,
  });
  expect(response).toMatchObject({ status: 503, error: null, body: long.slice(0, 2048) });
  expect(response.headers).toMatchObject({ 'retry-after': '7', 'x-two': 'a, b' });
  expect(receiver.seen).toEqual([
    expect.objectContaining({
      method: 'POST',
      url: '/hooks?x=1',
      body: '{"type":"segment.entered"}',
      headers: expect.objectContaining({ 'webhook-id': 'msg_1', 'content-length': '26' }),
    }),
  ]);
});

test('streams a file as the body', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sender-')), 'export.csv');
  const content = 'email_sha256\n'.concat('ab'.repeat(32).concat('\n').repeat(5_000));
  fs.writeFileSync(file, content);
  const receiver = await serve((_req, res) => res.end());
  const response = await sender().send({
    url: new URL(`${receiver.url}/upload`),
    headers: { 'content-type': 'text/csv' },
    body: { file, bytes: Buffer.byteLength(content) },
    timeoutMs: 10_000,
  });
  expect(response.status).toBe(200);
  expect(receiver.seen[0]!.body).toBe(content);
  fs.rmSync(path.dirname(file), { recursive: true });
});

test('answers a redirect with its status and never follows it', async () => {
  const elsewhere = await serve((_req, res) => res.end('moved here'));
  const receiver = await serve((_req, res) => {
    res.writeHead(307, { location: `${elsewhere.url}/hooks` });
    res.end();
  });
  const response = await sender().send({
    url: new URL(`${receiver.url}/hooks`),
    headers,
    body: '{}',
    timeoutMs: 10_000,
  });
  expect(response).toMatchObject({
    status: 307,
    headers: expect.objectContaining({ location: `${elsewhere.url}/hooks` }),
  });
  expect(receiver.seen).toHaveLength(1);
  expect(elsewhere.seen).toHaveLength(0);
});

test('ends an attempt at its timeout whether the receiver says nothing or answers byte by byte', async () => {
  const hanging = await serve(() => undefined);
  const trickling = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write('x')), 20);
  });
  const healthy = await serve((_req, res) => res.end());
  const webhooks = sender();
  const [silent, slow] = await Promise.all([
    webhooks.send({ url: new URL(hanging.url), headers, body: '{}', timeoutMs: 300 }),
    webhooks.send({ url: new URL(trickling.url), headers, body: '{}', timeoutMs: 500 }),
  ]);
  expect(silent).toMatchObject({ status: null, error: 'no complete answer within 300 ms' });
  expect(slow).toMatchObject({ status: null, error: 'no complete answer within 500 ms' });
  // The sender goes on delivering afterwards.
  const next = await webhooks.send({ url: new URL(healthy.url), headers, body: '{}', timeoutMs: 10_000 });
  expect(next.status).toBe(200);
});

test('ends every request in flight when asked (a stop or a rebalance)', async () => {
  const hanging = await serve(() => undefined);
  const webhooks = sender();
  const pending = webhooks.send({ url: new URL(hanging.url), headers, body: '{}', timeoutMs: 60_000 });
  await waitFor(() => expect(hanging.seen).toHaveLength(1));
  webhooks.abortAll();
  expect(await pending).toMatchObject({ status: null, error: 'delivery stopped' });
});

test('refuses private targets unless allowed: a literal address at once, a name once it resolves', async () => {
  const receiver = await serve((_req, res) => res.end());
  const port = new URL(receiver.url).port;
  const guarded = sender(false);
  const literal = await guarded.send({ url: new URL(receiver.url), headers, body: '{}', timeoutMs: 10_000 });
  expect(literal).toMatchObject({
    status: null,
    error: expect.stringMatching(/^KUMIKI_PRIVATE_TARGET: 127\.0\.0\.1 is a loopback/),
  });
  const named = await guarded.send({
    url: new URL(`http://localhost:${port}`),
    headers,
    body: '{}',
    timeoutMs: 10_000,
  });
  expect(named).toMatchObject({
    status: null,
    error: expect.stringMatching(/^KUMIKI_PRIVATE_TARGET: localhost is resolved to .*, a loopback or private address/),
  });
  expect(receiver.seen).toHaveLength(0);
  const allowed = await sender(true).send({ url: new URL(receiver.url), headers, body: '{}', timeoutMs: 10_000 });
  expect(allowed.status).toBe(200);
});

test('keeps connections alive and opens no more than maxSockets of them', async () => {
  const receiver = await serve((_req, res) => res.end());
  const webhooks = sender();
  for (let round = 0; round < 5; round++) {
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        webhooks.send({ url: new URL(receiver.url), headers, body: `{"i":${round * 8 + i}}`, timeoutMs: 10_000 }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
  }
  expect(receiver.seen).toHaveLength(40);
  expect(receiver.connections()).toBe(4);
});
