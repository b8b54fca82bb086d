import type { Command } from 'commander';
import type { CliConfig } from '../config';
import { callReadApi, reportFailure } from './read-api.client';
import { formatTable } from './table-format';

/**
 * `kumiki sql "<query>" [--param k=v …] [--format table|json]`: a read-only query through the
 * read API (the engine refuses writes). Parameters are typed in the query, `{name:Type}`, and
 * passed as text, which ClickHouse parses as that type.
 */
export async function sqlCommand(
  config: CliConfig,
  query: string,
  options: { param: string[]; format: string },
): Promise<number> {
  if (options.format !== 'table' && options.format !== 'json') {
    process.stderr.write('kumiki sql: --format must be table or json\n');
    return 2;
  }
  const params: Record<string, string> = {};
  for (const pair of options.param) {
    const index = pair.indexOf('=');
    if (index <= 0) {
      process.stderr.write(`kumiki sql: --param ${pair}: expected name=value\n`);
      return 2;
    }
    params[pair.slice(0, index)] = pair.slice(index + 1);
  }
  const result = await callReadApi<{ rows: Record<string, unknown>[] }>(config, 'POST', '/v1/sql', { query, params });
  if (!result.ok) return reportFailure('sql', result);
  process.stdout.write(
    options.format === 'json' ? `${JSON.stringify(result.body.rows, null, 2)}\n` : formatTable(result.body.rows),
  );
  return 0;
}

export function registerSqlCommand(
  program: Command,
  config: () => CliConfig,
  setExitCode: (code: number) => void,
): void {
  program
    .command('sql')
    .description('run a read-only SQL query against ClickHouse through the read API')
    .argument('<query>', 'e.g. "SELECT label, count() FROM rfm GROUP BY label"')
    .option(
      '--param <name=value>',
      'a typed parameter {name:Type} of the query (repeatable)',
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .option('--format <format>', 'table or json', 'table')
    .action(async (query: string, options: { param: string[]; format: string }) => {
      setExitCode(await sqlCommand(config(), query, options));
    });
}
