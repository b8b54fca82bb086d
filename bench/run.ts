/**
 * `npm run bench`: every benchmark in bench/, one after the other, each in its own process so
 * one's heap and engine state never colour another's figures. Kafka and the registry are
 * started as for the tests (a running `kumiki up` is reused) and handed to each benchmark
 * through KAFKA_BROKERS / SCHEMA_REGISTRY_URL.
 *
 *   npm run bench                 # all
 *   npm run bench -- collector    # those whose file name contains "collector"
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { loadCliConfig } from '../services/cli/config';
import { startConfiguredInfrastructure } from '../services/cli/local/infrastructure';

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const benches = readdirSync(__dirname)
    .filter((file) => file.endsWith('.js') && file !== 'run.js')
    .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
    .sort();
  if (benches.length === 0) {
    process.stderr.write(`no benchmark matches ${filters.join(', ')}\n`);
    return 2;
  }
  const config = loadCliConfig(process.env);
  const log = {
    info: (m: string) => process.stdout.write(`[bench] ${m}\n`),
    warn: (m: string) => process.stderr.write(`[bench] ${m}\n`),
  };
  const infrastructure = await startConfiguredInfrastructure(config, log);
  let failed = 0;
  try {
    for (const bench of benches) {
      process.stdout.write(`\n== ${bench.replace(/\.js$/, '')} ==\n`);
      const result = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, bench)], {
        stdio: 'inherit',
        env: {
          ...process.env,
          KAFKA_BROKERS: infrastructure.brokers.join(','),
          SCHEMA_REGISTRY_URL: infrastructure.registryUrl,
        },
      });
      if (result.status !== 0) {
        failed += 1;
        process.stderr.write(`[bench] ${bench} exited with ${result.status ?? result.signal}\n`);
      }
    }
  } finally {
    await infrastructure.stop();
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
