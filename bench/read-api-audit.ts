import Fastify from 'fastify';
import pino from 'pino';
import { type AccessDecision, FailedAuthThrottle, KeyCache } from '../services/common/access';
import { auditFieldsOf } from '../services/common/audit/audit-record';
import { AuditWriter } from '../services/common/audit/audit-writer';
import { createKafkaClient } from '../services/common/kafka/client';
import { topics } from '../services/common/kafka/topics';
import { AvroCodec } from '../services/common/registry/avro-codec';
import { SchemaRegistryClient } from '../services/common/registry/schema-registry.client';
import { readApiRoutes } from '../services/profile-materializer/read-api.routes';
import { encodeEventRows, ProfileRepository } from '../services/profile-materializer/profile.repository';
import { identityRowsOfEvent, toEventRow } from '../services/profile-materializer/store-rows';
import type { StitchedEvent } from '../schemas';
import { benchClickHouse } from './support/bench-clickhouse';

const [profiles = 2000, concurrency = 32, seconds = 8, rounds = 3] = process.argv.slice(2).map(Number);
const logger = pino({ level: 'warn' });
const token = 'adm_bench_token_0123456789abcdef';

async function main(): Promise<void> {
  const { ch } = await benchClickHouse('audit', logger);
  const repository = new ProfileRepository(ch);
  const at = Date.now() - 86_400_000;
  const records: StitchedEvent[] = Array.from({ length: profiles }, (_, i) => ({
    profileId: `p${i}`,
    identifiers: [{ type: 'email', value: `person${i}@example.com` }],
    stitchedAt: at,
    event: {
      messageId: `m${i}`,
      type: 'identify',
      event: null,
      name: null,
      userId: null,
      anonymousId: null,
      previousId: null,
      groupId: null,
      timestamp: at,
      sentAt: null,
      receivedAt: at,
      channel: 'web',
      source: 'bench',
      context: '{}',
      traits: JSON.stringify({ plan: i % 2 ? 'gold' : 'free', name: `Person ${i}` }),
      consent: {},
      properties: '{}',
    },
  }));
  await repository.writeEvents(encodeEventRows(records.map(toEventRow)));
  await repository.writeIdentities(records.flatMap(identityRowsOfEvent));
  const ids = records.map((r) => r.profileId);
  await repository.writeSnapshots(await repository.readSnapshots(ids, await repository.loadAliasGroups(ids)));

  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const kafka = createKafkaClient({ brokers, clientId: 'bench-audit', logger });
  const topic = `bench-audit-${Date.now().toString(36)}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.ensureTopics([{ ...topics.audit, name: topic }]);
  await admin.disconnect();
  const registry = new SchemaRegistryClient({
    url: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7',
  });
  const codec = new AvroCodec(registry, await registry.registerAll([{ ...topics.audit, name: topic }]));
  const producer = kafka.producer();
  await producer.connect();
  const writer = new AuditWriter({
    producer: () => producer,
    topic,
    encode: (t, v) => codec.encode(t, v),
    service: 'bench',
    logger,
    lingerMs: 2,
  });
  let auditing = false;
  const piiKey = Buffer.alloc(32, 1);
  const app = Fastify();
  await app.register(
    readApiRoutes({
      clickhouse: () => ch,
      logger,
      limits: { maxExecutionSeconds: 10, maxResultRows: 10_000, maxMemoryBytes: 1_000_000_000 },
      access: {
        keys: new KeyCache(),
        adminToken: token,
        throttle: new FailedAuthThrottle({ maxFailures: 1000, windowMs: 1000, blockMs: 1000 }),
        onDecision: async (decision: AccessDecision) => {
          if (auditing) await writer.append(auditFieldsOf(decision, { service: 'bench', piiKey }));
        },
      },
    }),
  );
  const base = await app.listen({ host: '127.0.0.1', port: 0 });

  const round = async (): Promise<number> => {
    let done = 0;
    const until = Date.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async (_, worker) => {
        let i = worker;
        while (Date.now() < until) {
          const response = await fetch(`${base}/v1/profiles/email/person${i % profiles}@example.com`, {
            headers: { authorization: `Bearer ${token}` },
          });
          if (response.status !== 200) throw new Error(`lookup answered ${response.status}`);
          await response.arrayBuffer();
          done += 1;
          i += concurrency;
        }
      }),
    );
    return done / seconds;
  };

  await round(); // warm-up
  const off: number[] = [];
  const on: number[] = [];
  for (let r = 0; r < rounds; r++) {
    auditing = false;
    off.push(await round());
    auditing = true;
    on.push(await round());
  }
  await writer.drain();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(
    `profile lookups/s, ${concurrency} in flight, ${profiles} profiles, ${rounds} rounds of ${seconds} s each\n` +
      `  auditing off: ${off.map((x) => x.toFixed(0)).join(', ')} (median ${median(off).toFixed(0)})\n` +
      `  auditing on:  ${on.map((x) => x.toFixed(0)).join(', ')} (median ${median(on).toFixed(0)})\n` +
      `  ratio on/off (medians): ${(median(on) / median(off)).toFixed(2)} (target >= 0.80)\n` +
      `  audit chain: ${writer.currentWriterId}\n`,
  );
  await app.close();
  await producer.disconnect();
  await ch.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
