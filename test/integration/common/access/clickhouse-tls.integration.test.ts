import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createClickHouse, type ClickHouseConfig } from '../../../../services/common/clickhouse';
import { ConfigError } from '../../../../services/common/errors';
import {
  issueServerCertificate,
  makeCertificateAuthority,
  type CertificateAuthority,
} from '../../../support/certificates';
import { startClickHouseServer, type ClickHouseServer } from '../../../support/clickhouse-server';
import { uniqueName } from '../../../support/stack-env';

jest.setTimeout(120_000);
const logger = pino({ level: 'silent' });

/**
 * kumiki's ClickHouse connection for CLICKHOUSE_URL against a real ClickHouse server serving
 * only HTTPS, with a certificate signed by a CA made here, and a user with a password. The
 * server is Debian's clickhouse-server, ClickHouse 18.16: kumiki's migrations need a far newer
 * one, so this proves the transport and the credentials only (connect, create the database,
 * insert and query), not kumiki's tables on a server.
 */
describe('ClickHouse server over TLS with credentials', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-clickhouse-tls-'));
  const password = 'clickhouse-secret-123';
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let server: ClickHouseServer;

  beforeAll(async () => {
    ca = makeCertificateAuthority(dir, 'clickhouse-ca');
    otherCa = makeCertificateAuthority(dir, 'other-ca');
    server = await startClickHouseServer({
      ...issueServerCertificate(ca, dir, 'clickhouse'),
      caFile: ca.certFile,
      users: { kumiki: password },
    });
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const config = (overrides: Partial<ClickHouseConfig>): ClickHouseConfig => ({
    CLICKHOUSE_URL: server.url,
    CLICKHOUSE_USER: 'kumiki',
    CLICKHOUSE_PASSWORD: password,
    CLICKHOUSE_CA_FILE: ca.certFile,
    CLICKHOUSE_DATABASE: uniqueName('tls').replace(/\W/g, '_'),
    KUMIKI_HOME: dir,
    ...overrides,
  });

  it('connects over https with the configured CA and credentials, and writes and reads', async () => {
    const settings = config({});
    const clickhouse = await createClickHouse(settings, logger);
    try {
      expect(clickhouse.mode).toBe('server');
      expect(await clickhouse.query('SELECT version() AS version')).toEqual([{ version: '18.16.1' }]);
      await clickhouse.command('CREATE TABLE secure_rows (email String) ENGINE = Memory');
      await clickhouse.insert('secure_rows', [{ email: 'a@example.com' }, { email: 'b@example.com' }]);
      expect(await clickhouse.query('SELECT currentDatabase() AS db, count() AS n FROM secure_rows')).toEqual([
        { db: settings.CLICKHOUSE_DATABASE, n: '2' },
      ]);
    } finally {
      await clickhouse.close();
    }
  });

  it('refuses a wrong password with an error naming the credential settings', async () => {
    const refused = createClickHouse(config({ CLICKHOUSE_PASSWORD: 'not-the-password' }), logger);
    await expect(refused).rejects.toThrow(ConfigError);
    await expect(refused).rejects.toThrow(
      `CLICKHOUSE_USER / CLICKHOUSE_PASSWORD: the ClickHouse server at ${server.url}/ refused user "kumiki": Code: 193`,
    );
  });

  it('refuses a certificate not signed by the CA in CLICKHOUSE_CA_FILE, naming the setting', async () => {
    const refused = createClickHouse(config({ CLICKHOUSE_CA_FILE: otherCa.certFile }), logger);
    await expect(refused).rejects.toThrow(ConfigError);
    await expect(refused).rejects.toThrow(
      `CLICKHOUSE_CA_FILE: the certificate of the ClickHouse server at ${server.url}/ is not signed by the CA in CLICKHOUSE_CA_FILE=${JSON.stringify(otherCa.certFile)}`,
    );
    await expect(createClickHouse(config({ CLICKHOUSE_CA_FILE: undefined }), logger)).rejects.toThrow(
      "is not trusted by the system's CAs; set CLICKHOUSE_CA_FILE to the PEM file of the CA that signed it",
    );
  });
});
