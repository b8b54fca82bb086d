import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as avro from 'avsc';
import { ConfigError } from '../../../../services/common/errors';
import { SchemaRegistryClient, registrySettingsFromConfig } from '../../../../services/common/registry';
import {
  issueServerCertificate,
  makeCertificateAuthority,
  type CertificateAuthority,
} from '../../../support/certificates';
import { startSecureRegistry, type SecureRegistry } from '../../../support/private-registry';
import { uniqueName } from '../../../support/stack-env';

jest.setTimeout(300_000);

/**
 * kumiki's registry client against a real Apicurio Registry (the one `kumiki up` runs) that
 * serves only HTTPS, with a certificate signed by a CA made here, and requires basic auth.
 */
describe('schema registry over TLS with credentials', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-registry-tls-'));
  const user = { name: 'kumiki', password: 'registry-secret-123' };
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let registry: SecureRegistry;

  beforeAll(async () => {
    ca = makeCertificateAuthority(dir, 'registry-ca');
    otherCa = makeCertificateAuthority(dir, 'other-ca');
    const server = issueServerCertificate(ca, dir, 'registry');
    registry = await startSecureRegistry({ ...server, caFile: ca.certFile, user });
  });
  afterAll(async () => {
    await registry?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const client = (settings: { caFile?: string; password?: string }): SchemaRegistryClient =>
    new SchemaRegistryClient({
      ...registrySettingsFromConfig({
        SCHEMA_REGISTRY_URL: registry.url,
        SCHEMA_REGISTRY_USERNAME: user.name,
        SCHEMA_REGISTRY_PASSWORD: settings.password ?? user.password,
        SCHEMA_REGISTRY_CA_FILE: settings.caFile,
      }),
      requestTimeoutMs: 20_000,
    });

  const schema = (name: string) => ({
    type: 'record',
    name,
    namespace: 'kumiki.test',
    fields: [{ name: 'email', type: 'string' }],
  });

  it('registers a schema and fetches it back over https with the configured CA and credentials', async () => {
    const trusted = client({ caFile: ca.certFile });
    const subject = `${uniqueName('tls')}-value`;
    const id = await trusted.register(subject, schema('Secure'));
    expect(await trusted.compatibility(subject)).toBe('BACKWARD');
    expect(await trusted.latestSchemaId(subject)).toBe(id);
    // A second client has nothing cached: the schema comes over the wire.
    const type = (await client({ caFile: ca.certFile }).writerType(id)) as avro.Type;
    expect(type.name).toBe('kumiki.test.Secure');
    expect(type.fromBuffer(type.toBuffer({ email: 'a@example.com' }))).toEqual({ email: 'a@example.com' });
  });

  it('refuses a certificate not signed by the CA in SCHEMA_REGISTRY_CA_FILE, naming the setting', async () => {
    const subject = `${uniqueName('tls')}-value`;
    const refused = client({ caFile: otherCa.certFile }).register(subject, schema('Untrusted'));
    await expect(refused).rejects.toThrow(ConfigError);
    await expect(refused).rejects.toThrow(
      `SCHEMA_REGISTRY_CA_FILE: the certificate of the schema registry at ${registry.url} is not signed by the CA in SCHEMA_REGISTRY_CA_FILE=${JSON.stringify(otherCa.certFile)}`,
    );
    // The schema library's own calls (not only kumiki's direct ones) are refused the same way.
    await expect(client({ caFile: otherCa.certFile }).writerType(1)).rejects.toThrow(
      /^invalid configuration:\n {2}- SCHEMA_REGISTRY_CA_FILE: the certificate of the schema registry/,
    );
    await expect(client({}).compatibility(subject)).rejects.toThrow(
      "is not trusted by the system's CAs; set SCHEMA_REGISTRY_CA_FILE to the PEM file of the CA that signed it",
    );
  });

  it('refuses a wrong password with an error naming the credential settings', async () => {
    await expect(
      client({ caFile: ca.certFile, password: 'not-the-password' }).compatibility('any-value'),
    ).rejects.toThrow(
      /SCHEMA_REGISTRY_USERNAME \/ SCHEMA_REGISTRY_PASSWORD: schema registry at https:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7 answered 401/,
    );
  });

  it('refuses, at start, a CA file that cannot be read or holds no certificate', () => {
    const settings = (file: string) => () =>
      registrySettingsFromConfig({ SCHEMA_REGISTRY_URL: registry.url, SCHEMA_REGISTRY_CA_FILE: file });
    expect(settings(path.join(dir, 'missing.pem'))).toThrow(
      /SCHEMA_REGISTRY_CA_FILE=".*missing\.pem": cannot be read: .*ENOENT/,
    );
    expect(settings(ca.keyFile)).toThrow('holds no PEM certificate');
  });
});
