import fs from 'node:fs';
import path from 'node:path';
import { main } from '../../services/cli/main';
import type { RunningPipeline } from './pipeline';
import { testStack } from './stack-env';

/**
 * `kumiki demo` run in this process against a test pipeline (its topics, its collector and read
 * API), with a credentials file in `home` as `kumiki up` writes it. Returns the exit code and what
 * it printed.
 */
export async function runDemoCommand(
  pipeline: RunningPipeline,
  home: string,
  options: { readonly people: number; readonly days: number; readonly seed: number },
): Promise<{ exitCode: number; printed: string }> {
  fs.writeFileSync(
    path.join(home, 'credentials.json'),
    JSON.stringify({ writeKey: pipeline.collector.writeKey, adminToken: pipeline.adminToken }),
    { mode: 0o600 },
  );
  let printed = '';
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed += chunk.toString();
    return true;
  });
  try {
    const exitCode = await main(
      [
        'node',
        'kumiki',
        'demo',
        ...['--people', String(options.people), '--days', String(options.days), '--seed', String(options.seed)],
        ...['--raw-topic', pipeline.topics.raw, '--dlq-topic', pipeline.topics.dlq],
        ...['--timeout', '120', '--no-progress'],
      ],
      {
        PATH: process.env.PATH,
        KUMIKI_HOME: home,
        KUMIKI_COLLECTOR_PORT: new URL(pipeline.collector.url).port,
        KUMIKI_READ_API_URL: pipeline.materializer.url,
        KAFKA_BROKERS: testStack().brokers.join(','),
        SCHEMA_REGISTRY_URL: testStack().registryUrl,
      },
    );
    return { exitCode, printed };
  } finally {
    write.mockRestore();
  }
}
