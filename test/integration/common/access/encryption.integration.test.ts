import fs from 'node:fs';
import path from 'node:path';
import { createClickHouse } from '../../../../services/common/clickhouse/client-factory';
import { loadOrCreateKeyFile } from '../../../../services/common/credentials';
import { embeddedHome, quietLogger } from '../../profile-materializer/materializer-test-env';

function filesContaining(dir: string, marker: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    if (fs.readFileSync(file).includes(marker)) found.push(file);
  }
  return found;
}

describe('embedded ClickHouse encrypted at rest', () => {
  it('stores tables on the encrypted disk, so no file holds a stored value', async () => {
    const home = embeddedHome('encryption');
    const keyFile = path.join(home, 'clickhouse.key');
    const key = await loadOrCreateKeyFile(keyFile);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateKeyFile(keyFile)).toBe(key);
    const ch = await createClickHouse(
      {
        CLICKHOUSE_URL: undefined,
        CLICKHOUSE_USER: 'default',
        CLICKHOUSE_PASSWORD: '',
        CLICKHOUSE_DATABASE: 'enc',
        KUMIKI_HOME: home,
        CLICKHOUSE_ENCRYPTION_KEY_FILE: keyFile,
      },
      quietLogger,
    );
    try {
      // No compression, so that only encryption can hide the value.
      await ch.command('CREATE TABLE people (email String CODEC(NONE)) ENGINE = MergeTree ORDER BY email');
      await ch.command(
        "INSERT INTO people SELECT concat('marker-ann-', toString(number), '@example.com') FROM numbers(500)",
      );
      const parts = await ch.query<{ disk_name: string }>(
        "SELECT DISTINCT disk_name FROM system.parts WHERE table = 'people'",
      );
      expect(parts).toEqual([{ disk_name: 'kumiki_encrypted' }]);
      expect(await ch.query("SELECT count() AS n FROM people WHERE email LIKE 'marker-ann-%'")).toEqual([{ n: '500' }]);
      expect(filesContaining(path.join(home, 'clickhouse'), 'marker-ann-')).toEqual([]);
      expect(fs.statSync(path.join(home, 'clickhouse-access', 'config.xml')).mode & 0o777).toBe(0o600);
    } finally {
      await ch.close();
    }
  });
});
