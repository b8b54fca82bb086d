import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { createClickHouse } from '../../../../services/common/clickhouse/client-factory';
import { AvroCodec } from '../../../../services/common/registry/avro-codec';
import { SchemaRegistryClient } from '../../../../services/common/registry/schema-registry.client';
import type { AuditRecord, StitchedEvent } from '../../../../schemas';
import { testKafka } from '../../../support/kafka';
import { withServiceLogsOnFailure, type ServiceProcess } from '../../../support/service-process';
import { testStack, uniqueName } from '../../../support/stack-env';
import { waitFor } from '../../../support/wait-for';
import { embeddedHome, quietLogger } from '../../profile-materializer/materializer-test-env';
import { startAccessService } from './access-test-env';

jest.setTimeout(240_000);
const root = path.resolve(__dirname, '../../../..');
const adminToken = 'adm_audit_test_token_0123456789';

function person(profileId: string, email: string, traits: Record<string, unknown>, n: number): StitchedEvent {
  const at = Date.now() - 86_400_000;
  return {
    profileId,
    identifiers: [{ type: 'email', value: email }],
    stitchedAt: at,
    event: {
      messageId: `audit-${profileId}-${n}`,
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
      source: 'test',
      context: '{}',
      traits: JSON.stringify(traits),
      consent: {},
      properties: '{}',
    },
  };
}

describe('audit trail', () => {
  const kafka = testKafka();
  const home = embeddedHome('audit');
  const database = uniqueName('t').replace(/-/g, '_');
  let env: Record<string, string>;
  let url: string;
  let codec: AvroCodec;
  let service: ServiceProcess;
  let stack: Awaited<ReturnType<typeof startAccessService>>;
  const start = async () => {
    await stack.start();
    service = stack.service();
  };
  const call = async (method: string, pathname: string, token: string, body?: unknown) => {
    const response = await fetch(`${url}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const kumiki = (...args: string[]) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(root, 'bin', 'kumiki.js'), ...args],
        {
          env: {
            PATH: process.env.PATH ?? '',
            KUMIKI_READ_API_URL: url,
            KUMIKI_ADMIN_TOKEN: adminToken,
            KUMIKI_HOME: os.tmpdir(),
          },
        },
        (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });

  beforeAll(async () => {
    stack = await startAccessService({ kafka, prefix: 'audit', home, database, adminToken });
    ({ env, url, codec } = stack);
    const stitched = env.MATERIALIZER_STITCHED_TOPIC;
    const producer = kafka.producer();
    await producer.connect();
    await producer.send(
      stitched!,
      [
        person('p-ann', 'ann@example.com', { plan: 'gold', name: 'Ann' }, 1),
        person('p-bob', 'bob@example.com', { plan: 'free', name: 'Bob' }, 1),
      ].map((r) => ({ key: r.profileId, value: codec.encode(stitched!, r) })),
    );
    await producer.disconnect();
    await start();
    await waitFor(
      async () => expect((await call('GET', '/v1/profiles/email/bob@example.com', adminToken)).status).toBe(200),
      {
        timeoutMs: 60_000,
      },
    );
  });
  afterAll(async () => {
    await service.stop();
  });

  it('reports exactly the accesses that touched a person, verifies the chain, and names an altered record', () =>
    withServiceLogsOnFailure(async () => {
      const key = async (role: string) =>
        (await call('POST', '/v1/keys', adminToken, { name: `${role} key`, role })).body as {
          id: string;
          secret: string;
        };
      const analyst = await key('analyst');
      const marketer = await key('marketer');
      const officer = await key('privacy-officer');

      expect((await call('GET', '/v1/profiles/email/Ann@Example.com', analyst.secret)).status).toBe(200);
      expect((await call('GET', '/v1/profiles/email/bob@example.com', analyst.secret)).status).toBe(200);
      const sql = await call('POST', '/v1/sql', analyst.secret, {
        query: "SELECT profile_id FROM profiles WHERE profile_id IN ('p-ann') ORDER BY profile_id",
      });
      expect(sql.body.rows).toEqual([{ profile_id: 'p-ann' }]);
      expect(
        (await call('POST', '/v1/sql', analyst.secret, { query: 'SELECT count() AS n FROM profiles' })).status,
      ).toBe(200);
      const segment = await call('POST', '/v1/segments', marketer.secret, {
        name: 'gold',
        rule: { trait: 'plan', op: 'eq', value: 'gold' },
      });
      expect(segment.status).toBe(201);
      await waitFor(
        async () => {
          const members = await call('GET', `/v1/segments/${segment.body.id}/members`, marketer.secret);
          expect(members.body.members).toEqual([expect.objectContaining({ profileId: 'p-ann' })]);
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect((await call('GET', '/v1/profiles/email/bob@example.com', officer.secret)).status).toBe(200);
      expect((await call('POST', '/v1/sql', officer.secret, { query: "SELECT 'p-ann' AS profile_id" })).status).toBe(
        403,
      );

      const expected = [
        [analyst.id, 'GET /v1/profiles/:type/:value', 'allowed'],
        [analyst.id, 'POST /v1/sql', 'allowed'],
        [marketer.id, 'GET /v1/segments/:id/members', 'allowed'],
      ];
      let report: { records: { keyId: string; action: string; outcome: string; role: string; rows: number }[] } = {
        records: [],
      };
      await waitFor(
        async () => {
          const result = await kumiki('audit', 'report', '--profile', 'email:ann@example.com', '--json');
          process.stdout.write(
            `COUNT ${JSON.stringify((await call('POST', '/v1/sql', adminToken, { query: 'SELECT count() AS n, groupArray(profile_ids) AS p, groupArray(identifier_hashes) AS h FROM audit_log' })).body).slice(0, 1500)}\n`,
          );
          process.stdout.write(`REPORT ${result.status} ${result.stderr} ${result.stdout.slice(0, 3000)}\n`);
          report = JSON.parse(result.stdout);
          // The members page is polled until evaluation filled it: count each distinct access once.
          const distinct = [
            ...new Map(report.records.map((r) => [`${r.keyId} ${r.action}`, [r.keyId, r.action, r.outcome]])).values(),
          ];
          expect(distinct).toEqual(expected);
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      expect(report.records.find((r) => r.action === 'POST /v1/sql')).toMatchObject({ role: 'analyst', rows: 1 });
      expect(JSON.stringify(report)).not.toContain('ann@example.com');

      const verified = await kumiki('audit', 'verify', '--json');
      expect([verified.status, JSON.parse(verified.stdout).ok]).toEqual([0, true]);

      // Alter one stored row, as someone with access to ClickHouse's files would.
      const target = report.records[0] as unknown as { recordId: string };
      await service.stop();
      const ch = await createClickHouse(
        {
          CLICKHOUSE_URL: undefined,
          CLICKHOUSE_USER: 'default',
          CLICKHOUSE_PASSWORD: '',
          CLICKHOUSE_DATABASE: database,
          KUMIKI_HOME: home,
        },
        quietLogger,
      );
      await ch.command(
        "ALTER TABLE audit_log UPDATE resource = 'nothing to see' WHERE record_id = {id:String} SETTINGS mutations_sync = 2",
        { id: target.recordId },
      );
      await ch.close();
      await start();
      const broken = await kumiki('audit', 'verify');
      expect(broken.status).toBe(1);
      expect(broken.stdout).toContain(`BROKEN at record ${target.recordId}`);
    }));

  it('has the audit record on Kafka before the answer: a SIGKILL right after the answer loses none', () =>
    withServiceLogsOnFailure(async () => {
      const made = (await call('POST', '/v1/keys', adminToken, { name: 'kill test', role: 'analyst' })).body as {
        id: string;
        secret: string;
      };
      const answers = await Promise.all(Array.from({ length: 20 }, () => call('GET', '/v1/segments', made.secret)));
      service.child.kill('SIGKILL');
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
      await service.exit;
      const codec = new AvroCodec(new SchemaRegistryClient({ url: testStack().registryUrl }));
      const consumer = kafka.consumer({
        groupId: uniqueName('audit-reader'),
        topics: [env.AUDIT_TOPIC!],
        fromBeginning: true,
      });
      const records = new Map<string, AuditRecord>();
      await consumer.connect();
      void consumer.run(async (batch, context) => {
        for (const m of batch.messages) {
          const record = (await codec.decode<AuditRecord>(m.value!)).value;
          records.set(record.recordId, record);
          context.resolveOffset(m.offset);
        }
      });
      try {
        await waitFor(
          () =>
            expect(
              [...records.values()].filter((r) => r.keyId === made.id && r.action === 'GET /v1/segments'),
            ).toHaveLength(20),
          { timeoutMs: 30_000 },
        );
      } finally {
        await consumer.disconnect();
      }
      await start();
    }));

  it('throttles 1,000 wrong tokens from one address (first N 401, the rest 429) and raises one alert; alerts a revoked key used', () =>
    withServiceLogsOnFailure(async () => {
      const made = (await call('POST', '/v1/keys', adminToken, { name: 'to revoke', role: 'analyst' })).body as {
        id: string;
        secret: string;
      };
      expect((await call('DELETE', `/v1/keys/${made.id}`, adminToken)).status).toBe(204);
      expect((await call('GET', '/v1/segments', made.secret)).body.code).toBe('KUMIKI_KEY_REVOKED');

      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 1000; i++) {
        const response = await fetch(`${url}/v1/sql`, {
          method: 'POST',
          headers: { authorization: `Bearer wrong-token-${i}`, 'content-type': 'application/json' },
          body: '{"query":"SELECT 1"}',
        });
        statuses.push(response.status);
        if (response.status === 429) retryAfter ??= response.headers.get('retry-after');
        await response.arrayBuffer();
      }
      // AUTH_MAX_FAILURES (10), counting the revoked key's refusal: 9 more 401s, then 429s.
      expect(statuses.filter((s) => s === 401)).toHaveLength(9);
      expect(statuses.slice(9).every((s) => s === 429)).toBe(true);
      expect(Number(retryAfter)).toBeGreaterThan(0);

      // Alerts are read with a key from elsewhere: this address is blocked. The admin token is
      // refused too, so restart the service (its throttle is in memory) to read them.
      await service.stop();
      await start();
      await waitFor(
        async () => {
          const alerts = (await call('GET', '/v1/security/alerts', adminToken)).body.alerts as {
            rule: string;
            subject: string;
          }[];
          expect(alerts.map((a) => [a.rule, a.subject]).sort()).toEqual([
            ['dead-key-used', `key:${made.id}`],
            ['failed-auth-burst', 'address:127.0.0.1'],
          ]);
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
    }));
});
