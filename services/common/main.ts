import { KumikiError } from './errors';
import { runUntilSignalled, type Service } from './lifecycle';
import type { Logger } from './logger';
import type { Env } from './config';

/**
 * The few lines every `services/<name>/main.ts` shares: validate config, compose, run until
 * signalled. A problem of the setup (invalid config, an unpatched kafkajs: a KumikiError that
 * retrying cannot mend) is printed as a readable message and exits 2, never a stack trace.
 */
export function runMain<C>(
  serviceName: string,
  environment: Env,
  loadConfig: (env: Env) => C,
  compose: (config: C) => { service: Service; logger: Logger },
): void {
  let composed: { service: Service; logger: Logger };
  try {
    composed = compose(loadConfig(environment));
  } catch (error) {
    if (error instanceof KumikiError && !error.isRetriable) {
      process.stderr.write(`${serviceName}: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  runUntilSignalled(composed.service, composed.logger);
}
