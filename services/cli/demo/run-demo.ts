import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DirectProducer } from '../../common/events/direct-producer';
import { errorMessage, KumikiError } from '../../common/errors';
import { importFile, type ImportOptions } from '../import/import-file';
import { importSettings, parseMapPairs } from '../import/map-record';
import {
  batchesOf,
  generateDemoPopulation,
  japaneseStoreCsv,
  japaneseStoreMapping,
  storeRowsCsv,
  type DemoPopulation,
  type SegmentMessage,
} from './demo-population';
import { readPredictions } from './demo-predictions';
import { readReport, storeSource, type DemoReport } from './demo-report';
import { demoProfiles } from './demo-scope';
import type { DemoSettings } from './demo-settings';

export { formatDemoReport, storeSource, type DemoReport, type RfmCell } from './demo-report';
export { PredictionsUnavailable, type DemoCustomer, type DemoPredictions } from './demo-predictions';
export type { DemoProgress, DemoSettings } from './demo-settings';

/**
 * `kumiki demo` without the terminal: generates the population (demo-population.ts), sends
 * its web/app/email traffic through the collector in /v1/batch requests and its store
 * purchases through the import path (the same code as `kumiki import`: a UTF-8 export, and the
 * Japanese stores' CP932 export with yen amounts and era dates), waits until the
 * pipeline has caught up, and reads back what a marketer looks at — all through public
 * interfaces: HTTP in, SQL through the read API, the dead-letter topic through the registry.
 *
 * Scope: every figure is about the demo's own events (messageIds starting with the demo's
 * prefix) and the profiles they belong to, so a stack holding other data still shows the
 * demo's. Running the same demo twice sends the same messageIds, which the pipeline
 * deduplicates. RFM scores are those of the stack (quintiles among all its purchasers).
 */
export async function runDemo(settings: DemoSettings): Promise<{ population: DemoPopulation; report: DemoReport }> {
  const population = generateDemoPopulation({
    people: settings.people,
    days: settings.days,
    seed: settings.seed,
    now: settings.now ?? Date.now(),
  });
  const http = await sendOverHttp(settings, population.messages);
  const imported = await importStorePurchases(settings, population);
  const expectedEvents = population.truth.goodMessageIds.size;
  const waited = await waitForPipeline(settings, population.prefix, expectedEvents);
  const report = await readReport(settings, population, { ...http, imported, expectedEvents, ...waited });
  const predictions = settings.predictions ? await readPredictions(settings, population.prefix) : null;
  return { population, report: { ...report, predictions } };
}

async function sendOverHttp(
  settings: DemoSettings,
  messages: readonly SegmentMessage[],
): Promise<{ httpMessages: number; accepted: number; rejected: number }> {
  const batches = batchesOf(messages, 100);
  const bar = settings.progress?.phase('sending events to the collector', messages.length);
  const auth = `Basic ${Buffer.from(`${settings.writeKey}:`).toString('base64')}`;
  let next = 0;
  let sent = 0;
  let accepted = 0;
  let rejected = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const batch = batches[next++]!;
      const body = await postWithRetry(`${settings.collectorUrl}/v1/batch`, auth, JSON.stringify({ batch }));
      accepted += body.accepted;
      rejected += body.rejected?.length ?? 0;
      sent += batch.length;
      bar?.update(sent);
    }
  };
  try {
    await Promise.all([worker(), worker(), worker(), worker()]);
  } finally {
    bar?.stop();
  }
  return { httpMessages: messages.length, accepted, rejected };
}

/** 429 and 503 mean "nothing was accepted, try again" (docs/collector.md); anything else non-2xx is fatal. */
async function postWithRetry(
  url: string,
  auth: string,
  body: string,
): Promise<{ accepted: number; rejected?: unknown[] }> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body,
      });
    } catch (error) {
      throw new DemoError(
        `the collector at ${url} does not answer (${errorMessage(error)}); is \`kumiki up\` running?`,
      );
    }
    const text = await response.text();
    if (response.ok) return JSON.parse(text) as { accepted: number; rejected?: unknown[] };
    if ((response.status !== 429 && response.status !== 503) || Date.now() > deadline) {
      throw new DemoError(`the collector at ${url} answered ${response.status}: ${text.slice(0, 300)}`);
    }
    const retryAfter = Number(response.headers.get('retry-after') ?? '1');
    await delay(Math.min(5_000, Math.max(100, retryAfter * 1000 * Math.random(), 100 * 2 ** attempt)));
  }
}

async function importStorePurchases(settings: DemoSettings, population: DemoPopulation): Promise<number> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kumiki-demo-'));
  const bar = settings.progress?.phase(
    'importing store purchases',
    population.storeRows.length + population.japaneseStoreRows.length,
  );
  const producer = await DirectProducer.connect({
    brokers: settings.kafkaBrokers,
    registryUrl: settings.registryUrl,
    format: 'avro',
    topic: settings.rawTopic,
    clientId: 'kumiki-demo',
    logger: pino({ level: 'silent' }),
  });
  const exports: { file: string; bytes: Buffer; options: Partial<ImportOptions> }[] = [
    { file: `${storeSource}.csv`, bytes: Buffer.from(storeRowsCsv(population.storeRows)), options: {} },
    {
      file: `${storeSource}-ja.csv`,
      bytes: japaneseStoreCsv(population.japaneseStoreRows),
      options: { mapping: parseMapPairs(japaneseStoreMapping), ...importSettings({ locale: 'ja-JP' }) },
    },
  ];
  try {
    let sent = 0;
    for (const { file, bytes, options } of exports) {
      await fs.writeFile(path.join(dir, file), bytes);
      const summary = await importFile(
        { file: path.join(dir, file), source: storeSource, ...options },
        async (events) => {
          await producer.send(events);
          sent += events.length;
          bar?.update(sent);
        },
      );
      if (summary.rejected > 0)
        throw new DemoError(
          `the store export ${file} was rejected on ${summary.rejected} lines: ${JSON.stringify(summary.rejects.slice(0, 3))}`,
        );
    }
    return sent;
  } finally {
    bar?.stop();
    await producer.close().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Caught up = every demo event is queryable, the profile count has stopped moving (identity
 * merges are applied beside the events) and, where the stack keeps RFM snapshots, one was
 * computed after that. Bounded by `waitTimeoutMs`; the report says when it gave up.
 */
async function waitForPipeline(
  settings: DemoSettings,
  prefix: string,
  expected: number,
): Promise<{ caughtUp: boolean; waitedMs: number }> {
  const started = Date.now();
  const deadline = started + settings.waitTimeoutMs;
  const bar = settings.progress?.phase('waiting for the pipeline (events queryable)', expected);
  let caughtUp = false;
  try {
    let previousProfiles = -1;
    let stableSince = 0;
    while (Date.now() < deadline) {
      const [row] = await settings.sql<{ events: string; profiles: string }>(
        // uniqExact: an exact count of distinct messageIds (the events view is deduplicated already).
        'SELECT toString(uniqExact(message_id)) AS events, toString(uniqExact(profile_id)) AS profiles FROM events WHERE startsWith(message_id, {prefix:String})',
        { prefix },
      );
      const events = Number(row?.events ?? 0);
      const profiles = Number(row?.profiles ?? 0);
      bar?.update(Math.min(events, expected));
      if (events >= expected) {
        if (profiles !== previousProfiles) stableSince = Date.now();
        else if (Date.now() - stableSince >= 1_500) {
          caughtUp = await waitForRfmSnapshot(settings, prefix, deadline);
          break;
        }
      }
      previousProfiles = profiles;
      await delay(500);
    }
  } finally {
    bar?.stop();
  }
  return { caughtUp, waitedMs: Date.now() - started };
}

/**
 * The rfm view reads the latest snapshot (migration 0010): waits for one that holds every order
 * and merge of the demo, i.e. whose purchasers, orders and revenue equal what `rfm_as_of`
 * computes from the events now. (Waiting for a snapshot computed after the poll saw the events
 * settle missed one computed just before: the materializer takes a snapshot after the last
 * order or merge, then none until the next.)
 */
async function waitForRfmSnapshot(settings: DemoSettings, prefix: string, deadline: number): Promise<boolean> {
  const bar = settings.progress?.phase('waiting for an RFM snapshot of it all', 1);
  const totals = (rfm: string): string =>
    `(SELECT concat(toString(count()), '/', toString(sum(frequency)), '/', toString(sum(monetary_cents))) FROM ${rfm} WHERE profile_id IN (${demoProfiles}))`;
  let compared: string | undefined;
  try {
    while (Date.now() < deadline) {
      // Ranking every purchaser live is not free on a large stack: compare once per snapshot.
      const [latest] = await settings.sql<{ computed: string }>(
        'SELECT toString(max(computed_at)) AS computed FROM rfm',
      );
      if (latest?.computed !== compared) {
        compared = latest?.computed;
        const [row] = await settings.sql<{ snapshot: string; live: string }>(
          `SELECT ${totals('rfm')} AS snapshot, ${totals("rfm_as_of(as_of = {now:DateTime64(3, 'UTC')})")} AS live`,
          { prefix, now: new Date().toISOString().replace('T', ' ').replace('Z', '') },
        );
        if (row && row.snapshot === row.live) return true;
      }
      await delay(500);
    }
    return false;
  } finally {
    bar?.stop();
  }
}

export class DemoError extends KumikiError {
  readonly isRetriable = false;
}

/** The user id of the person whose profile joins the most kinds of identifier. */

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
