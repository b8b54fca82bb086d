import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readCredentials } from '../../common/credentials';
import { errorMessage } from '../../common/errors';
import { secretKey, signature } from '../../common/webhook-signature';
import type { CliConfig } from '../config';
import { journeys, journeyTraffic, mailFor } from '../demo/journeys';
import { serviceUrl } from '../local/services';
import { callActivatorApi, callReadApi } from './read-api.client';

/**
 * `kumiki demo --journeys`: the seeds' three journeys, live. Makes the segments (repurchase on
 * day 4, cart abandoned for a day, birthday this month; each needs marketing consent) unless
 * they exist, starts a small receiver here that prints what a mail tool would send, points a
 * webhook destination at it, sends a small cast through the collector, and prints each mail as
 * the activator delivers it. People who refused marketing consent get none. The destination is
 * deleted when it ends.
 */
export interface JourneysOptions {
  readonly receiverPort: number;
  readonly waitSeconds: number;
}

export async function journeysCommand(config: CliConfig, options: JourneysOptions): Promise<number> {
  const fail = (message: string): number => {
    process.stderr.write(`kumiki demo --journeys: ${message}\n`);
    return 1;
  };
  const credentials = await readCredentials(config.paths.credentials);
  if (!credentials) return fail(`no write key: ${config.paths.credentials} does not exist (run \`kumiki up\` first)`);

  // 1. The segments.
  const existing = await callReadApi<{ segments: { id: string; name: string }[] }>(config, 'GET', '/v1/segments');
  if (!existing.ok) return fail(existing.message);
  for (const journey of journeys) {
    if (existing.body.segments.some((s) => s.name === journey.segment)) continue;
    const made = await callReadApi<{ id: string }>(config, 'POST', '/v1/segments', {
      name: journey.segment,
      rule: journey.rule,
      purpose: 'marketing',
    });
    if (!made.ok) return fail(`segment "${journey.segment}": ${made.message}`);
    process.stdout.write(`segment "${journey.segment}" created (${made.body.id})\n`);
  }

  // 2. The receiver: verifies each message as the mail tool would, then prints the mail.
  let secret = '';
  const seen = new Set<string>();
  const mails: { to: string; subject: string; journey: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      const timestamp = Number(req.headers['webhook-timestamp']);
      const expected = signature(secretKey(secret), id, timestamp, body);
      const signatures = String(req.headers['webhook-signature'] ?? '').split(' ');
      if (!secret || !signatures.includes(expected)) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(204).end();
      if (seen.has(id)) return; // a redelivery: the mail went already
      seen.add(id);
      const payload = JSON.parse(body) as Parameters<typeof mailFor>[0] & { type: string };
      if (payload.type !== 'segment.entered') return;
      const mail = mailFor(payload);
      if (!mail) return;
      const journey = payload.data.segment?.name ?? '';
      mails.push({ ...mail, journey });
      process.stdout.write(`  mail to ${mail.to.padEnd(36)} ${mail.subject}   [${journey}]\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.receiverPort, '127.0.0.1', resolve);
  });
  const receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mail-tool`;

  // 3. The destination.
  const created = await callActivatorApi<{ id: string; secret: string }>(config, 'POST', '/v1/destinations', {
    name: 'journeys demo mail tool',
    type: 'webhook',
    url: receiverUrl,
    events: ['segment.entered'],
    purposes: ['marketing'],
    identifiers: ['email'],
    traits: ['first_name'],
  });
  if (!created.ok) {
    server.close();
    return fail(created.message);
  }
  secret = created.body.secret;
  process.stdout.write(`mail tool listening on ${receiverUrl}; destination ${created.body.id}\n`);

  try {
    // 4. The cast, through the collector as any SDK would send it.
    const tag = randomBytes(3).toString('hex');
    const { people, batch } = journeyTraffic(Date.now(), tag);
    const url = `${serviceUrl(config.ports.collector)}/v1/batch`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`${credentials.writeKey}:`).toString('base64')}`,
        },
        body: JSON.stringify({ batch, sentAt: new Date().toISOString() }),
      });
    } catch (error) {
      return fail(`the collector at ${url} does not answer (${errorMessage(error)}); is \`kumiki up\` running?`);
    }
    if (!response.ok) return fail(`the collector answered ${response.status}: ${await response.text()}`);
    const expected = people.filter((p) => p.journey !== null && p.marketing);
    process.stdout.write(
      `sent ${batch.length} events for ${people.length} people; waiting for ${expected.length} mails (up to ${options.waitSeconds} s)\n\n`,
    );

    // 5. Mails as they come.
    const deadline = Date.now() + options.waitSeconds * 1000;
    const mine = (): typeof mails => mails.filter((m) => m.to.includes(`.${tag}.`));
    while (mine().length < expected.length && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 250));
    const got = mine();
    const refused = people.filter((p) => !p.marketing).map((p) => p.email);
    const leaked = got.filter((m) => refused.includes(m.to));
    process.stdout.write(
      `\n${got.length} of ${expected.length} mails sent; ${leaked.length} to the ${refused.length} people who refused marketing\n`,
    );
    return got.length === expected.length && leaked.length === 0 ? 0 : 1;
  } finally {
    await callActivatorApi(config, 'DELETE', `/v1/destinations/${encodeURIComponent(created.body.id)}`);
    server.close();
  }
}
