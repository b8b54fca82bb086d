import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { ClickHouse } from '../../../../services/common/clickhouse/client-factory';
import type { KafkaClient } from '../../../../services/common/kafka/client';
import { testKafka } from '../../../support/kafka';
import { waitFor } from '../../../support/wait-for';
import { embeddedHome, freshDatabase } from '../../profile-materializer/materializer-test-env';
import { type AccessTestApi, adminToken, followKeys, startAccessTestApi } from './access-test-env';

const root = path.resolve(__dirname, '..', '..', '..', '..');

describe('API keys', () => {
  let kafka: KafkaClient;
  let ch: ClickHouse;
  let api: AccessTestApi;

  beforeAll(async () => {
    kafka = testKafka();
    ch = await freshDatabase(embeddedHome('keys'));
    api = await startAccessTestApi({ kafka, clickhouse: ch });
  });
  afterAll(async () => {
    await api.close();
    await ch.close();
  });

  /** The CLI as a child process, asynchronously: the API it calls runs in this process. */
  const kumiki = (...args: string[]) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(root, 'bin', 'kumiki.js'), ...args],
        {
          env: {
            PATH: process.env.PATH ?? '',
            KUMIKI_READ_API_URL: api.url,
            KUMIKI_ADMIN_TOKEN: adminToken,
            KUMIKI_HOME: os.tmpdir(),
          },
          encoding: 'utf8',
        },
        (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('creates, lists, rotates and revokes keys from the CLI, and every follower of the topic sees it', async () => {
    const created = await kumiki('keys', 'create', '--name', 'bi', '--role', 'analyst', '--json');
    expect(created.stderr).toBe('');
    const key = JSON.parse(created.stdout) as { id: string; secret: string; role: string };
    expect(key.role).toBe('analyst');
    expect(key.secret).toMatch(new RegExp(`^kmk_${key.id}_`));
    expect((await api.call('GET', '/v1/segments', key.secret)).status).toBe(200);

    const listed = JSON.parse((await kumiki('keys', 'list', '--json')).stdout) as { keys: Record<string, unknown>[] };
    expect(listed.keys).toEqual([
      expect.objectContaining({ id: key.id, name: 'bi', role: 'analyst', revokedAt: null }),
    ]);
    expect(JSON.stringify(listed)).not.toContain(key.secret.slice(20));

    // A second service, started after the key was made, reads it from the topic.
    const other = await followKeys(kafka, api.keysTopic);
    try {
      expect(other.keys.find(key.id)?.role).toBe('analyst');
      expect(JSON.stringify(other.keys.find(key.id))).not.toContain(key.secret);

      const rotated = JSON.parse((await kumiki('keys', 'rotate', key.id, '--grace', '1h', '--json')).stdout) as {
        secret: string;
      };
      expect(rotated.secret).not.toBe(key.secret);
      expect((await api.call('GET', '/v1/segments', key.secret)).status).toBe(200);
      expect((await api.call('GET', '/v1/segments', rotated.secret)).status).toBe(200);

      expect((await kumiki('keys', 'revoke', key.id)).status).toBe(0);
      const refused = await api.call('GET', '/v1/segments', rotated.secret);
      expect([refused.status, refused.body.code]).toEqual([401, 'KUMIKI_KEY_REVOKED']);
      await waitFor(() => expect(other.keys.find(key.id)?.revokedAt).toEqual(expect.any(Number)), {
        timeoutMs: 15_000,
      });
    } finally {
      await other.stop();
    }
  });

  it('answers bad input with clear codes, each audited', async () => {
    const before = api.decisions.length;
    const role = await api.call('POST', '/v1/keys', adminToken, { name: 'x', role: 'superuser' });
    expect([role.status, role.body.code, role.body.field]).toEqual([400, 'KUMIKI_INVALID_ROLE', 'role']);
    const expiry = await api.call('POST', '/v1/keys', adminToken, { name: 'x', role: 'analyst', expires: 'soon' });
    expect([expiry.status, expiry.body.code]).toEqual([400, 'KUMIKI_INVALID_EXPIRY']);
    const unknown = await api.call('DELETE', '/v1/keys/nosuchkey000', adminToken);
    expect([unknown.status, unknown.body.code]).toEqual([404, 'KUMIKI_KEY_NOT_FOUND']);
    const cli = await kumiki('keys', 'create', '--name', 'x', '--role', 'root');
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain('KUMIKI_INVALID_ROLE');
    expect(api.decisions.slice(before).map((d) => [d.route, d.status, d.code])).toEqual([
      ['/v1/keys', 400, 'KUMIKI_INVALID_ROLE'],
      ['/v1/keys', 400, 'KUMIKI_INVALID_EXPIRY'],
      ['/v1/keys/:id', 404, 'KUMIKI_KEY_NOT_FOUND'],
      ['/v1/keys', 400, 'KUMIKI_INVALID_ROLE'],
    ]);
  });

  it('stops accepting a key once it expires', async () => {
    const made = await api.call('POST', '/v1/keys', adminToken, { name: 'short', role: 'marketer', expires: '2s' });
    const secret = made.body.secret as string;
    expect((await api.call('GET', '/v1/segments', secret)).status).toBe(200);
    await waitFor(
      async () => {
        const answer = await api.call('GET', '/v1/segments', secret);
        expect([answer.status, answer.body.code]).toEqual([401, 'KUMIKI_KEY_EXPIRED']);
      },
      { timeoutMs: 10_000, intervalMs: 250 },
    );
  });
});
