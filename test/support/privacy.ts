import pino from 'pino';
import type { KafkaClient } from '../../services/common/kafka/client';
import type { PrivacyReport } from '../../services/common/privacy/privacy-report';
import { AvroCodec, SchemaRegistryClient } from '../../services/common/registry';
import type { RunningPipeline } from './pipeline';
import { testStack, uniqueName } from './stack-env';
import { waitFor } from './wait-for';

/** What GET /v1/privacy/requests/{id} answers. */
export interface RequestAnswer {
  readonly requestId: string;
  readonly type: string;
  readonly status: 'pending' | 'running' | 'completed' | 'failed';
  readonly outcome: string;
  readonly subject: {
    readonly hashed: boolean;
    readonly outcome: string | null;
    readonly erasedBy?: string | null;
    readonly profileIds: string[];
    readonly mergedProfileIds: string[];
    readonly identifiers: { type: string; value?: string; hash?: string }[];
  } | null;
  readonly report: PrivacyReport | null;
}

/** Events in through the collector's batch endpoint; fails unless all are accepted. */
export async function sendEvents(pipeline: RunningPipeline, batch: readonly Record<string, unknown>[]): Promise<void> {
  const response = await fetch(`${pipeline.collector.url}/v1/batch`, {
    method: 'POST',
    headers: { authorization: pipeline.collector.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ batch }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`collector answered ${response.status}: ${text}`);
}

export async function fileRequest(
  pipeline: RunningPipeline,
  type: string,
  identifier: { type: string; value: string },
): Promise<string> {
  const answer = await pipeline.api<{ requestId: string; status: string }>('POST', '/v1/privacy/requests', {
    type,
    identifier,
    reason: 'test ticket',
  });
  return answer.requestId;
}

/** Polls the request until it is completed or failed. */
export function requestDone(pipeline: RunningPipeline, requestId: string, timeoutMs = 240_000): Promise<RequestAnswer> {
  return waitFor(
    async () => {
      const answer = await pipeline.api<RequestAnswer>('GET', `/v1/privacy/requests/${requestId}`);
      if (answer.status !== 'completed' && answer.status !== 'failed')
        throw new Error(`request ${requestId} is ${answer.status}`);
      return answer;
    },
    { timeoutMs, intervalMs: 500 },
  );
}

/**
 * Rows of every table and view of the materializer's database (enumerated from system.tables,
 * so tables added later are covered) that name one of `exact` in any text column (String,
 * Array(String), Map keys), or contain one of `inside` anywhere in a text column (JSON payloads),
 * case-insensitively. Only stores with rows are in the answer.
 */
export async function rowsNaming(
  pipeline: RunningPipeline,
  exact: readonly string[],
  inside: readonly string[],
): Promise<Record<string, number>> {
  const tables = await pipeline.sql<{ name: string; params: string }>(
    "SELECT name, toString(length(parameterized_view_parameters)) AS params FROM system.tables WHERE database = currentDatabase() AND engine != 'MaterializedView' ORDER BY name",
  );
  const columns = await pipeline.sql<{ table: string; name: string; type: string }>(
    'SELECT table, name, type FROM system.columns WHERE database = currentDatabase()',
  );
  const found: Record<string, number> = {};
  for (const table of tables) {
    const conditions: string[] = [];
    for (const column of columns.filter((c) => c.table === table.name)) {
      const name = `\`${column.name}\``;
      if (/^(LowCardinality\()?(Nullable\()?(String|FixedString)/.test(column.type))
        conditions.push(
          `toString(${name}) IN {exact:Array(String)}`,
          `multiSearchAnyCaseInsensitive(toString(${name}), {inside:Array(String)})`,
        );
      else if (/^Array\(.*String/.test(column.type))
        conditions.push(
          `hasAny(arrayMap(x -> toString(x), ${name}), {exact:Array(String)})`,
          `arrayExists(x -> multiSearchAnyCaseInsensitive(toString(x), {inside:Array(String)}), ${name})`,
        );
      else if (/^Map\(.*String/.test(column.type))
        conditions.push(`hasAny(arrayMap(x -> toString(x), mapKeys(${name})), {exact:Array(String)})`);
    }
    if (conditions.length === 0) continue;
    const from = Number(table.params) > 0 ? `${table.name}(as_of = now64(3))` : `\`${table.name}\``;
    const [row] = await pipeline.sql<{ n: string }>(
      `SELECT count() AS n FROM ${from} WHERE ${conditions.join(' OR ')}`,
      {
        exact: [...exact],
        inside: [...inside],
      },
    );
    if (Number(row?.n) > 0) found[table.name] = Number(row!.n);
  }
  return found;
}

/** The latest value per key of a (compacted) topic, read committed to its end: null for a tombstone. */
export async function latestByKey(kafka: KafkaClient, topic: string): Promise<Map<string, Buffer | null>> {
  const latest = new Map<string, Buffer | null>();
  await kafka.readToEnd({
    topic,
    groupIdPrefix: uniqueName('latest'),
    onBatch: (messages) => {
      for (const message of messages) latest.set(message.key?.toString('utf8') ?? '', message.value);
    },
  });
  return latest;
}

/** A codec that reads any record written with a registered schema. */
export function testCodec(): AvroCodec {
  return new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl, logger: pino({ level: 'warn' }) }));
}

/** One Prometheus counter's value summed over the series whose labels include `labels`. */
export async function metricValue(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([^{\s]+)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const given = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!] as [string, string]),
    );
    if (Object.entries(labels).every(([key, value]) => given[key] === value)) sum += Number(match[3]);
  }
  return sum;
}

/** The profile holding `user_id:<user>`, once the materializer has it. */
export function profileOfUser(pipeline: RunningPipeline, user: string): Promise<string> {
  return waitFor(
    async () => {
      const [row] = await pipeline.sql<{ profile_id: string }>(
        "SELECT profile_id FROM identities WHERE identifier_type = 'user_id' AND identifier_value = {u:String}",
        { u: user },
      );
      if (!row) throw new Error(`no profile for ${user} yet`);
      return row.profile_id;
    },
    { timeoutMs: 60_000, intervalMs: 300 },
  );
}
