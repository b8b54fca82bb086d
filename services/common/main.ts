import { ConfigError } from './errors';
import { runUntilSignalled, type Service } from './lifecycle';
import type { Logger } from './logger';
import type { Env } from './config';

/**
 * The few lines every `services/<name>/main.ts` shares: validate config (a ConfigError is
 * printed as a readable list and exits 2, never a stack trace), compose, run until signalled.
 */
export function runMain<C>(
  serviceName: string,
  environment: Env,
  loadConfig: (env: Env) => C,
  compose: (config: C) => { service: Service; logger: Logger },
): void {
  let config: C;
  try {
    config = loadConfig(environment);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${serviceName}: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const { service, logger } = compose(config);
  runUntilSignalled(service, logger);
}
