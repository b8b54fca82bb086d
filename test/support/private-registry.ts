import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCliConfig } from '../../services/cli/config';
import type { ManagedProcess } from '../../services/cli/local/child-process';
import { confluentApiPath, startRegistry } from '../../services/cli/local/schema-registry';
import { localPaths } from '../../services/common/paths';
import { httpsStatus } from './certificates';
import { freePort } from './ports';
import { awaitPeer } from './peer-process';

/**
 * An Apicurio Registry of a test's own (the jar `kumiki up` runs, its own port and data), serving
 * only HTTPS with the given certificate, and requiring HTTP basic auth of `user` on every path
 * (Quarkus's embedded users: Apicurio's own auth needs an OIDC server).
 */
export interface SecureRegistry {
  /** The Confluent-compatible API, https://127.0.0.1:<port>/apis/ccompat/v7. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startSecureRegistry(options: {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA that signed `certFile`, to know when the registry answers. */
  readonly caFile: string;
  readonly user: { readonly name: string; readonly password: string };
}): Promise<SecureRegistry> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'kumiki-registry-'));
  const paths = localPaths(home, loadCliConfig(process.env).paths.cache);
  const environment: Record<string, string> = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const sslPort = await freePort();
  const url = `https://127.0.0.1:${sslPort}${confluentApiPath}`;
  const { name, password } = options.user;
  const running: ManagedProcess = await startRegistry({
    paths,
    port: await freePort(),
    javaCommand: 'java',
    log: { info: () => undefined, warn: () => undefined },
    env: {
      ...environment,
      QUARKUS_HTTP_SSL_PORT: String(sslPort),
      QUARKUS_HTTP_SSL_CERTIFICATE_FILES: options.certFile,
      QUARKUS_HTTP_SSL_CERTIFICATE_KEY_FILES: options.keyFile,
      QUARKUS_HTTP_INSECURE_REQUESTS: 'disabled',
      QUARKUS_HTTP_AUTH_BASIC: 'true',
      QUARKUS_SECURITY_USERS_EMBEDDED_ENABLED: 'true',
      QUARKUS_SECURITY_USERS_EMBEDDED_PLAIN_TEXT: 'true',
      [`QUARKUS_SECURITY_USERS_EMBEDDED_USERS_${name.toUpperCase()}`]: password,
      QUARKUS_HTTP_AUTH_PERMISSION_EVERYTHING_PATHS: '/*',
      QUARKUS_HTTP_AUTH_PERMISSION_EVERYTHING_POLICY: 'authenticated',
    },
  });
  const close = await awaitPeer({
    running,
    home,
    probe: () => httpsStatus(`${url}/subjects`, options.caFile, `${name}:${password}`),
    timeoutMs: 180_000,
  });
  return { url, close };
}
