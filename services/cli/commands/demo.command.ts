import type { Command } from 'commander';
import { MultiBar, Presets } from 'cli-progress';
import { readCredentials } from '../../common/credentials';
import { topics } from '../../common/kafka/topics';
import type { CliConfig } from '../config';
import { formatDemoReport, PredictionsUnavailable, runDemo, type DemoProgress } from '../demo/run-demo';
import type { BacktestReport } from '../../common/predictions/model-reports';
import { registryUrl } from '../local/schema-registry';
import { serviceUrl } from '../local/services';
import { journeysCommand } from './journeys.command';
import { callReadApi } from './read-api.client';

/**
 * `kumiki demo [--people N] [--days D] [--seed S]`: synthetic omnichannel traffic through the
 * real pipeline of a running stack (`kumiki up`), then the figures a marketer looks at. The
 * collector's write key and the read API's admin token come from `.kumiki/credentials.json`
 * (or KUMIKI_ADMIN_TOKEN / KUMIKI_READ_API_URL), as for `kumiki send` and `kumiki sql`.
 */
export interface DemoCommandOptions {
  readonly people: string;
  readonly days: string;
  readonly seed: string;
  readonly rawTopic: string;
  readonly dlqTopic: string;
  readonly timeout: string;
  readonly progress: boolean;
  readonly json: boolean;
  readonly journeys?: boolean;
  readonly receiverPort: string;
}

export async function demoCommand(config: CliConfig, options: DemoCommandOptions): Promise<number> {
  const people = Number(options.people);
  const days = Number(options.days);
  const seed = Number(options.seed);
  const timeoutSeconds = Number(options.timeout);
  const problems = [
    Number.isInteger(people) && people >= 1 && people <= 1_000_000
      ? undefined
      : '--people must be a whole number from 1 to 1000000',
    Number.isInteger(days) && days >= 1 && days <= 364
      ? undefined
      : '--days must be a whole number from 1 to 364 (RFM counts the last 365 days)',
    Number.isInteger(seed) && seed >= 0 ? undefined : '--seed must be a whole number ≥ 0',
    Number.isFinite(timeoutSeconds) && timeoutSeconds > 0
      ? undefined
      : '--timeout must be a positive number of seconds',
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) {
    process.stderr.write(`kumiki demo: ${problems.join('; ')}\n`);
    return 2;
  }
  const credentials = await readCredentials(config.paths.credentials);
  if (!credentials) {
    process.stderr.write(
      `kumiki demo: no write key: ${config.paths.credentials} does not exist (run \`kumiki up\` first)\n`,
    );
    return 1;
  }
  // Before sending anything: is the read API there to show the result?
  const ping = await callReadApi<{ rows: unknown[] }>(config, 'POST', '/v1/sql', { query: 'SELECT 1 AS ok' });
  if (!ping.ok) {
    process.stderr.write(`kumiki demo: ${ping.message}\n`);
    return 1;
  }
  const bars =
    options.progress && process.stderr.isTTY
      ? new MultiBar(
          { stream: process.stderr, hideCursor: true, clearOnComplete: false, format: '{phase} {bar} {value}/{total}' },
          Presets.shades_classic,
        )
      : undefined;
  const progress: DemoProgress | undefined = bars && {
    phase(name, total) {
      const bar = bars.create(total, 0, { phase: name.padEnd(44) });
      return { update: (done) => bar.update(done), stop: () => bar.update(bar.getTotal()) };
    },
  };
  try {
    const { report } = await runDemo({
      people,
      days,
      seed,
      collectorUrl: serviceUrl(config.ports.collector),
      writeKey: credentials.writeKey,
      kafkaBrokers: config.external.kafkaBrokers ?? [`127.0.0.1:${config.ports.kafka}`],
      registryUrl: config.external.registryUrl ?? registryUrl(config.ports.registry),
      rawTopic: options.rawTopic,
      dlqTopic: options.dlqTopic,
      waitTimeoutMs: timeoutSeconds * 1000,
      sql: async <T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> => {
        const result = await callReadApi<{ rows: T[] }>(config, 'POST', '/v1/sql', { query, params });
        if (!result.ok) throw new ReadApiFailure(result.message);
        return result.body.rows;
      },
      ...(progress ? { progress } : {}),
      predictions: {
        fit: async () => {
          const result = await callReadApi<unknown>(config, 'POST', '/v1/models/fit', {});
          if (!result.ok) throw new PredictionsUnavailable(result.message);
          return result.body;
        },
        backtest: async (calibrationEnd, holdoutEnd) => {
          const result = await callReadApi<BacktestReport>(config, 'POST', '/v1/models/backtest', {
            calibrationEnd,
            holdoutEnd,
          });
          if (!result.ok) throw new PredictionsUnavailable(result.message);
          return result.body;
        },
      },
    });
    bars?.stop();
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatDemoReport(report));
    return report.caughtUp ? 0 : 1;
  } catch (error) {
    bars?.stop();
    if (error instanceof ReadApiFailure) {
      process.stderr.write(`kumiki demo: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

class ReadApiFailure extends Error {}

/** Adds `kumiki demo` to the CLI (main.ts calls this once). */
export function registerDemoCommand(
  program: Command,
  config: () => CliConfig,
  setExitCode: (code: number) => void,
): void {
  program
    .command('demo')
    .description('send a synthetic omnichannel population through the running stack and show the marketer view')
    .option('--people <n>', 'people to generate', '2000')
    .option('--days <d>', 'days of history', '90')
    .option('--seed <s>', 'random seed (the same seed gives the same people and events)', '42')
    .option(
      '--raw-topic <topic>',
      'topic the store import produces to (the collector’s events topic)',
      topics.eventsRaw.name,
    )
    .option('--dlq-topic <topic>', 'dead-letter topic to count', topics.deadLetters.name)
    .option('--timeout <seconds>', 'how long to wait for the pipeline to catch up', '300')
    .option('--no-progress', 'no progress bars')
    .option('--json', 'print the report as JSON', false)
    .option(
      '--journeys',
      'instead: the three journeys (segments, a webhook destination, a mail tool that prints its mails)',
    )
    .option('--receiver-port <port>', 'with --journeys: port of the mail tool (0 = any free one)', '8090')
    .action(async (options: DemoCommandOptions) => {
      if (options.journeys) {
        const receiverPort = Number(options.receiverPort);
        const waitSeconds = Number(options.timeout);
        if (!Number.isInteger(receiverPort) || receiverPort < 0 || receiverPort > 65_535) {
          process.stderr.write('kumiki demo: --receiver-port must be a port number (0 = any free one)\n');
          return setExitCode(2);
        }
        return setExitCode(await journeysCommand(config(), { receiverPort, waitSeconds }));
      }
      setExitCode(await demoCommand(config(), options));
    });
}
