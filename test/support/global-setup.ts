import path from 'node:path';
import { loadCliConfig } from '../../services/cli/config';
import { startConfiguredInfrastructure, type Infrastructure } from '../../services/cli/local/infrastructure';
import type { CliLog } from '../../services/cli/local/cli-log';
import { reaper } from './reaper';

/**
 * Integration tests get the real Kafka and schema registry. Whatever already answers on
 * the default ports (a running `kumiki up`, a developer's broker) is reused and left alone;
 * otherwise both are started with their state in `.kumiki-test/` (not the user's
 * `.kumiki/`) and stopped again by global-teardown. KAFKA_BROKERS / SCHEMA_REGISTRY_URL
 * point the tests at external services instead. The addresses reach the tests through
 * KUMIKI_TEST_* (see stack-env.ts).
 */
declare global {
  // Shared with global-teardown.ts, which jest runs in this same process.
  var kumikiTestInfrastructure: Infrastructure | undefined;
}

const log: CliLog = {
  info: (message) => process.stdout.write(`[global-setup] ${message}\n`),
  warn: (message) => process.stderr.write(`[global-setup] ${message}\n`),
};

export default async function globalSetup(): Promise<void> {
  if (process.env.KUMIKI_TEST_KAFKA_BROKERS && process.env.KUMIKI_TEST_SCHEMA_REGISTRY_URL) return;
  const repositoryRoot = path.resolve(__dirname, '..', '..');
  const config = loadCliConfig({ ...process.env, KUMIKI_HOME: path.join(repositoryRoot, '.kumiki-test') });
  const infrastructure = await startConfiguredInfrastructure(config, log);
  globalThis.kumikiTestInfrastructure = infrastructure;
  // A run stopped from outside skips global-teardown: what this started goes with the run anyway.
  for (const component of infrastructure.stack.components) reaper.watch(component.process?.pid);
  process.env.KUMIKI_TEST_KAFKA_BROKERS = infrastructure.brokers.join(',');
  process.env.KUMIKI_TEST_SCHEMA_REGISTRY_URL = infrastructure.registryUrl;
}
