import http from 'node:http';
import pino from 'pino';
import { createKafkaClient } from '../../services/common/kafka/client';
import { brokers, sql, until, writeKey, type Stack } from './pipeline-stack';

/** The pipeline benchmark's traffic: Segment batches posted by concurrent clients, and the wait until it is all materialized. */
export const clients = 16;
export const perRequest = 100;
const logger = pino({ level: 'warn' });
const agent = new http.Agent({ keepAlive: true, maxSockets: clients * 2 });

/** ~500 bytes of Segment JSON: browsing, carts and some orders of 20,000 people. */
export function sampleEvent(id: string, i: number): Record<string, unknown> {
  const person = (i * 7919) % 20_000;
  const order = i % 20 === 0;
  return {
    type: 'track',
    event: order ? 'Order Completed' : i % 3 === 0 ? 'Product Added' : 'Product Viewed',
    userId: `user-${person}`,
    anonymousId: `anon-${person}`,
    messageId: id,
    timestamp: new Date().toISOString(),
    properties: order
      ? {
          order_id: `o-${id}`,
          revenue: 20 + (i % 180),
          currency: 'EUR',
          products: [{ sku: `SKU-${i % 500}`, quantity: 1 }],
        }
      : {
          product_id: `p-${i % 5000}`,
          sku: `SKU-${i % 5000}-XL`,
          category: 'Outdoor / Jackets',
          price: 189.95,
          currency: 'EUR',
        },
    context: {
      ip: '203.0.113.42',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0',
      library: { name: 'analytics.js', version: '5.2.0' },
      page: { path: '/p/jacket' },
    },
  };
}

function post(
  port: number,
  pathname: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        path: pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

export async function sendBatch(stack: Stack, events: Record<string, unknown>[]): Promise<void> {
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  for (;;) {
    const answer = await post(
      stack.collectorPort,
      '/v1/batch',
      JSON.stringify({ batch: events, sentAt: new Date().toISOString() }),
      { authorization: auth },
    );
    if (answer.status === 200) return;
    if (answer.status !== 429 && answer.status !== 503)
      throw new Error(`collector answered ${answer.status}: ${answer.text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Posts `count` events (ids `<prefix>-<n>`) by `clients` concurrent clients as fast as the
 * collector acknowledges them, then waits until `queryable` events are in events_store and the
 * materializer's group has no lag (its profile updates are out: it commits only after them).
 */
export async function sendAndDrain(
  stack: Stack,
  prefix: string,
  count: number,
  queryable: number,
  onAccepted: (seconds: number) => void = () => undefined,
): Promise<void> {
  const admin = createKafkaClient({ brokers, clientId: 'bench', logger }).admin();
  await admin.connect();
  try {
    let next = 0;
    const requests = Math.ceil(count / perRequest);
    const started = Date.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let r = next++; r < requests; r = next++) {
          const events = Array.from({ length: Math.min(perRequest, count - r * perRequest) }, (_, k) =>
            sampleEvent(`${prefix}-${String(r * perRequest + k).padStart(9, '0')}`, r * perRequest + k),
          );
          await sendBatch(stack, events);
        }
      }),
    );
    onAccepted((Date.now() - started) / 1000);
    await until(
      async () => Number((await sql<{ n: string }>(stack, 'SELECT count() AS n FROM events_store'))[0]?.n) >= queryable,
      600_000,
      'every event queryable',
      250,
    );
    await until(
      async () => (await admin.groupLag(stack.materializerGroup, stack.inputTopics)).every((p) => p.lag === 0),
      600_000,
      'materializer lag 0',
      250,
    );
  } finally {
    await admin.disconnect();
  }
}
