import fs from 'node:fs';
import path from 'node:path';
import { maskedDeniedSystemTables } from './system-tables';

/**
 * Access control of embedded ClickHouse. chDB authenticates every session as the user `default`
 * (its LocalConnection hard-codes it), cannot create users (no writable access storage), and
 * leaves impersonation (`EXECUTE AS`) disabled whatever the config says. What it does honour is a
 * users file given with `--config-file`: users, roles and row policies defined there exist and
 * are enforced. So `default` is given two roles and nothing else:
 *
 * - `kumiki_owner` — every privilege; default sessions (writes, migrations, PII readers) have it.
 * - `kumiki_masked` — SELECT on `masked_*` databases only: SQL SECURITY DEFINER views that
 *   pseudonymise identifiers and personal traits. A session of a key without `pii:read` runs
 *   `SET ROLE kumiki_masked` first and then has no grant on the raw tables, on table functions
 *   (file, url, remote, cluster…: each needs a grant of its own), on dictionaries, or on
 *   anything outside those views; a row policy empties every system table but a harmless few for
 *   such sessions. `SET ROLE` could be undone from inside the session, so such sessions are opened
 *   for one statement each and closed (see masked-connection.ts).
 */
export const OWNER_ROLE = 'kumiki_owner';
export const MASKED_ROLE = 'kumiki_masked';

/**
 * Where the config files live: beside the data directory, written on every open. With an
 * encryption key, MergeTree tables are stored on an encrypted disk (AES-256-CTR) under
 * `<data>/encrypted/`; the key stays in its own file and is copied into the config, which is
 * mode 0600 like the key.
 */
export function writeEmbeddedAccessConfig(
  dataPath: string,
  options: { readonly encryptionKeyHex?: string } = {},
): string {
  const dir = path.join(path.dirname(dataPath), 'clickhouse-access');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const usersFile = path.join(dir, 'users.xml');
  const configFile = path.join(dir, 'config.xml');
  const deny = `<filter>currentRoles() != ['${MASKED_ROLE}']</filter>`;
  const policies = maskedDeniedSystemTables.map((t) => `<${t}>${deny}</${t}>`).join('');
  fs.writeFileSync(
    usersFile,
    `<clickhouse>
  <profiles><default/></profiles>
  <quotas><default/></quotas>
  <roles>
    <${OWNER_ROLE}><grants><query>GRANT ALL ON *.* WITH GRANT OPTION</query></grants></${OWNER_ROLE}>
    <${MASKED_ROLE}><grants><query>GRANT SELECT ON masked_*.*</query></grants></${MASKED_ROLE}>
  </roles>
  <users>
    <default>
      <password></password>
      <profile>default</profile>
      <quota>default</quota>
      <grants><query>GRANT ${OWNER_ROLE}, ${MASKED_ROLE}</query></grants>
      <databases><system>${policies}</system></databases>
    </default>
  </users>
</clickhouse>
`,
    { mode: 0o600 },
  );
  fs.writeFileSync(
    configFile,
    `<clickhouse>
  <user_directories><users_xml><path>${usersFile}</path></users_xml></user_directories>${options.encryptionKeyHex ? encryptedStorage(dataPath, options.encryptionKeyHex) : ''}
</clickhouse>
`,
    { mode: 0o600 },
  );
  return configFile;
}

function encryptedStorage(dataPath: string, keyHex: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(keyHex)) throw new RangeError('the ClickHouse encryption key must be 64 hex digits');
  return `
  <storage_configuration>
    <disks>
      <kumiki_plain><type>local</type><path>${path.join(dataPath, 'encrypted')}/</path></kumiki_plain>
      <kumiki_encrypted><type>encrypted</type><disk>kumiki_plain</disk><path>store/</path><algorithm>AES_256_CTR</algorithm><key_hex>${keyHex}</key_hex></kumiki_encrypted>
    </disks>
    <policies><encrypted><volumes><main><disk>kumiki_encrypted</disk></main></volumes></encrypted></policies>
  </storage_configuration>
  <merge_tree><storage_policy>encrypted</storage_policy></merge_tree>`;
}
