import fs from 'node:fs';
import path from 'node:path';
import type { ClickHouse } from '../../../../services/common/clickhouse/client-factory';
import type { KafkaClient } from '../../../../services/common/kafka/client';
import { roleNames } from '../../../../services/common/access';
import { testKafka } from '../../../support/kafka';
import { embeddedHome, freshDatabase } from '../../profile-materializer/materializer-test-env';
import { type AccessTestApi, adminToken, startAccessTestApi } from './access-test-env';

/** The route × role table of docs/access.md, as the test reads it. */
function documentedTable(): { method: string; route: string; expected: Record<string, 'allowed' | 403> }[] {
  const doc = fs.readFileSync(path.resolve(__dirname, '../../../../docs/access.md'), 'utf8');
  const section = doc.split('## Which role may call which route')[1]!.split('\n## ')[0]!;
  const lines = section.split('\n').filter((line) => line.startsWith('| `'));
  const header = section
    .split('\n')
    .find((line) => line.startsWith('| route'))!
    .split('|')
    .map((cell) => cell.trim());
  return lines.map((line) => {
    const cells = line.split('|').map((cell) => cell.trim());
    const [method, route] = cells[1]!.replace(/`/g, '').split(' ') as [string, string];
    const expected: Record<string, 'allowed' | 403> = {};
    for (const role of roleNames) expected[role] = cells[header.indexOf(role)] === '✓' ? 'allowed' : 403;
    return { method, route, expected };
  });
}

describe('every read API route against every role (docs/access.md)', () => {
  let kafka: KafkaClient;
  let ch: ClickHouse;
  let api: AccessTestApi;
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    kafka = testKafka();
    ch = await freshDatabase(embeddedHome('roles'));
    api = await startAccessTestApi({ kafka, clickhouse: ch });
    for (const role of roleNames) {
      const made = await api.call('POST', '/v1/keys', adminToken, { name: `${role} key`, role });
      expect(made.status).toBe(201);
      secrets[role] = made.body.secret as string;
    }
  });
  afterAll(async () => {
    await api.close();
    await ch.close();
  });

  it('documents every route the API serves', () => {
    const table = documentedTable();
    expect(table.length).toBeGreaterThanOrEqual(12);
    expect(new Set(table.map((r) => `${r.method} ${r.route}`)).size).toBe(table.length);
  });

  it('allows or refuses each route for each role exactly as documented', async () => {
    const outcomes: string[] = [];
    const expectedOutcomes: string[] = [];
    for (const { method, route, expected } of documentedTable()) {
      const url = route
        .replace('{type}', 'email')
        .replace('{value}', 'nobody@example.com')
        .replace('{id}', 'no-such-id');
      for (const role of roleNames) {
        // Bodies that the handler refuses (400) once the key is through: no state changes.
        const body = method === 'POST' ? (route === '/v1/sql' ? { query: 'SELECT 1 AS one' } : {}) : undefined;
        const answer = await api.call(method, url, secrets[role], body);
        const outcome = answer.status === 403 ? 403 : answer.status === 401 ? 401 : 'allowed';
        outcomes.push(`${method} ${route} ${role}: ${outcome}${outcome === 403 ? ` ${answer.body.code}` : ''}`);
        expectedOutcomes.push(
          `${method} ${route} ${role}: ${expected[role]}${expected[role] === 403 ? ' KUMIKI_FORBIDDEN' : ''}`,
        );
      }
    }
    expect(outcomes).toEqual(expectedOutcomes);
  });
});
