import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnManaged, type ManagedProcess } from '../../services/cli/local/child-process';
import { httpsStatus } from './certificates';
import { freePort } from './ports';
import { awaitPeer } from './peer-process';

/**
 * A ClickHouse server of a test's own, from Debian's `clickhouse-server` package (.ci/run
 * installs it): its own data directory and an HTTPS port only, with the certificate given and
 * the users given (each with a password; `default` gets a random one). Debian's package is
 * ClickHouse 18.16: good for the transport and credentials, too old for kumiki's migrations.
 */
export interface ClickHouseServer {
  readonly url: string;
  close(): Promise<void>;
}

const binary = existsSync('/usr/sbin/clickhouse-server') ? '/usr/sbin/clickhouse-server' : 'clickhouse-server';

export async function startClickHouseServer(options: {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA that signed `certFile`, to know when the server answers. */
  readonly caFile: string;
  readonly users: Readonly<Record<string, string>>;
}): Promise<ClickHouseServer> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'kumiki-clickhouse-'));
  const data = path.join(home, 'data');
  mkdirSync(data);
  const port = await freePort();
  const users = { default: `unused-${Math.random().toString(36).slice(2)}`, ...options.users };
  const xml = (text: string) => text.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
  writeFileSync(
    path.join(home, 'users.xml'),
    `<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <quotas><default></default></quotas>
  <users>${Object.entries(users)
    .map(
      ([name, password]) =>
        `<${name}><password>${xml(password)}</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></${name}>`,
    )
    .join('\n    ')}</users>
</yandex>
`,
  );
  const config = path.join(home, 'config.xml');
  writeFileSync(
    config,
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <https_port>${port}</https_port>
  <openSSL>
    <server>
      <certificateFile>${xml(options.certFile)}</certificateFile>
      <privateKeyFile>${xml(options.keyFile)}</privateKeyFile>
      <verificationMode>none</verificationMode>
      <loadDefaultCAFile>false</loadDefaultCAFile>
      <disableProtocols>sslv2,sslv3</disableProtocols>
    </server>
  </openSSL>
  <path>${xml(data)}/</path>
  <tmp_path>${xml(data)}/tmp/</tmp_path>
  <user_files_path>${xml(data)}/user_files/</user_files_path>
  <format_schema_path>${xml(data)}/format_schemas/</format_schema_path>
  <users_config>${xml(path.join(home, 'users.xml'))}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size>
  <max_concurrent_queries>20</max_concurrent_queries>
</yandex>
`,
  );
  const running: ManagedProcess = await spawnManaged({
    name: 'clickhouse',
    command: binary,
    args: [`--config-file=${config}`],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    cwd: home,
    logFile: path.join(home, 'clickhouse.log'),
    match: config,
  });
  const url = `https://127.0.0.1:${port}`;
  const close = await awaitPeer({
    running,
    home,
    probe: () => httpsStatus(`${url}/ping`, options.caFile),
    timeoutMs: 30_000,
  });
  return { url, close };
}
