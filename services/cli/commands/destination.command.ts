import type { Command } from 'commander';
import type { CliConfig } from '../config';
import { callActivatorApi, reportFailure } from './read-api.client';
import { formatTable } from './table-format';

/**
 * `kumiki destination …` over the activator's destinations API (`/v1/destinations`):
 *
 *   kumiki destination create <name> --url URL --events segment.entered,segment.exited --purposes marketing
 *       [--segments id,…] [--identifiers email,phone] [--traits first_name,…] [--rate-limit N]
 *   kumiki destination create <name> --type export --segments ID --identifiers email,phone --purposes advertising
 *       [--format csv|ndjson] [--mode full|delta] [--directory DIR | --url URL] [--every-minutes N]
 *   kumiki destination list [--format table|json]
 *   kumiki destination show <id>
 *   kumiki destination deliveries <id> [--limit N] [--format table|json]
 *   kumiki destination replay <id> --from ISO-TIME
 *   kumiki destination replay <id> --dead-letters [--limit N]
 *   kumiki destination pause|resume|delete|test|rotate-secret|export <id>
 *
 * Exit codes: 0 done, 1 the API refused or could not be reached (its `code: message` on
 * stderr), 2 bad usage.
 */
function usage(message: string): number {
  process.stderr.write(`kumiki destination: ${message}\n`);
  return 2;
}

const list = (raw: string | undefined): string[] | undefined =>
  raw
    ?.split(',')
    .map((part) => part.trim())
    .filter(Boolean);

export interface CreateOptions {
  readonly type: string;
  readonly url?: string;
  readonly events?: string;
  readonly segments?: string;
  readonly purposes?: string;
  readonly identifiers?: string;
  readonly traits?: string;
  readonly rateLimit?: string;
  readonly format?: string;
  readonly mode?: string;
  readonly directory?: string;
  readonly everyMinutes?: string;
}

/** The POST body for `destination create`, or a usage problem. Exported for unit tests. */
export function createBody(
  name: string,
  options: CreateOptions,
): { body: Record<string, unknown> } | { problem: string } {
  if (options.type !== 'webhook' && options.type !== 'export') return { problem: '--type must be webhook or export' };
  if (!options.purposes)
    return { problem: '--purposes is required (the consent purposes a profile must have granted)' };
  const rateLimit = options.rateLimit === undefined ? undefined : Number(options.rateLimit);
  if (rateLimit !== undefined && !(rateLimit > 0)) return { problem: '--rate-limit must be a positive number' };
  const everyMinutes = options.everyMinutes === undefined ? undefined : Number(options.everyMinutes);
  if (everyMinutes !== undefined && !(Number.isInteger(everyMinutes) && everyMinutes > 0))
    return { problem: '--every-minutes must be a positive whole number' };
  const body: Record<string, unknown> = {
    name,
    type: options.type,
    purposes: list(options.purposes),
    ...(options.url !== undefined ? { url: options.url } : {}),
    ...(options.segments !== undefined ? { segments: list(options.segments) } : {}),
    ...(options.identifiers !== undefined ? { identifiers: list(options.identifiers) } : {}),
    ...(options.traits !== undefined ? { traits: list(options.traits) } : {}),
    ...(rateLimit !== undefined ? { rateLimit } : {}),
  };
  if (options.type === 'webhook') {
    if (!options.events)
      return { problem: '--events is required for a webhook (segment.entered, segment.exited, profile.updated)' };
    body.events = list(options.events);
  } else {
    body.export = {
      ...(options.format !== undefined ? { format: options.format } : {}),
      ...(options.mode !== undefined ? { mode: options.mode } : {}),
      ...(options.directory !== undefined ? { directory: options.directory } : {}),
      ...(everyMinutes !== undefined ? { intervalMinutes: everyMinutes } : {}),
    };
  }
  return { body };
}

interface View {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly url: string | null;
  readonly status: string;
  readonly events: string[];
  readonly purposes: string[];
  readonly pausedReason: string | null;
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

async function simple(
  config: CliConfig,
  command: string,
  method: 'GET' | 'POST' | 'DELETE',
  pathname: string,
): Promise<number> {
  const result = await callActivatorApi<unknown>(config, method, pathname);
  if (!result.ok) return reportFailure(`destination ${command}`, result);
  if (method === 'DELETE') process.stdout.write(`deleted ${pathname.split('/').pop()}\n`);
  else print(result.body);
  return 0;
}

export function registerDestinationCommands(
  program: Command,
  config: () => CliConfig,
  setExitCode: (code: number) => void,
): void {
  const destination = program
    .command('destination')
    .description('destinations of the activator: webhooks and audience exports');
  const path = (id: string, action = ''): string => `/v1/destinations/${encodeURIComponent(id)}${action}`;

  destination
    .command('create')
    .description('create a webhook or an export destination; prints its id and signing secret (shown once)')
    .argument('<name>', 'destination name')
    .option('--type <type>', 'webhook or export', 'webhook')
    .option('--url <url>', 'webhook URL (or where an export is POSTed)')
    .option('--events <list>', 'segment.entered,segment.exited,profile.updated')
    .option('--segments <ids>', 'only these segments (an export: exactly one)')
    .option('--purposes <list>', 'consent purposes every delivered profile must have granted')
    .option('--identifiers <types>', 'identifier types payloads carry (email,phone …); an export hashes them')
    .option('--traits <keys>', 'trait keys payloads carry')
    .option('--rate-limit <n>', 'most requests per second')
    .option('--format <format>', 'export: csv or ndjson')
    .option('--mode <mode>', 'export: full or delta')
    .option('--directory <dir>', 'export: directory under the export root to write files to')
    .option('--every-minutes <n>', 'export: run on this schedule')
    .action(async (name: string, options: CreateOptions) => {
      const made = createBody(name, options);
      if ('problem' in made) return setExitCode(usage(made.problem));
      const result = await callActivatorApi<View & { secret: string }>(config(), 'POST', '/v1/destinations', made.body);
      if (!result.ok) return setExitCode(reportFailure('destination create', result));
      print(result.body);
      process.stderr.write(
        'Keep the secret now: it is not shown again (`kumiki destination rotate-secret` makes a new one).\n',
      );
      setExitCode(0);
    });

  destination
    .command('list')
    .description('list destinations')
    .option('--format <format>', 'table or json', 'table')
    .action(async (options: { format: string }) => {
      if (options.format !== 'table' && options.format !== 'json')
        return setExitCode(usage('--format must be table or json'));
      const result = await callActivatorApi<{ destinations: View[] }>(config(), 'GET', '/v1/destinations');
      if (!result.ok) return setExitCode(reportFailure('destination list', result));
      if (options.format === 'json') print(result.body.destinations);
      else
        process.stdout.write(
          formatTable(
            result.body.destinations.map((d) => ({
              id: d.id,
              name: d.name,
              type: d.type,
              status: d.status,
              events: d.events.join(','),
              purposes: d.purposes.join(','),
              url: d.url ?? '',
            })),
          ),
        );
      setExitCode(0);
    });

  destination
    .command('show')
    .description('show a destination')
    .argument('<id>')
    .action(async (id: string) => setExitCode(await simple(config(), 'show', 'GET', path(id))));

  destination
    .command('deliveries')
    .description("the destination's latest delivery attempts (status, latency, error; never bodies)")
    .argument('<id>')
    .option('--limit <n>', 'attempts to show (1 to 1000)', '50')
    .option('--format <format>', 'table or json', 'table')
    .action(async (id: string, options: { limit: string; format: string }) => {
      if (options.format !== 'table' && options.format !== 'json')
        return setExitCode(usage('--format must be table or json'));
      const result = await callActivatorApi<{ deliveries: Record<string, unknown>[] }>(
        config(),
        'GET',
        `${path(id, '/deliveries')}?limit=${encodeURIComponent(options.limit)}`,
      );
      if (!result.ok) return setExitCode(reportFailure('destination deliveries', result));
      if (options.format === 'json') print(result.body.deliveries);
      else process.stdout.write(formatTable(result.body.deliveries));
      setExitCode(0);
    });

  destination
    .command('replay')
    .description('deliver again every change since a time, or the dead letters')
    .argument('<id>')
    .option('--from <time>', 'ISO-8601 time to replay changes from')
    .option('--dead-letters', 'replay the dead letters instead')
    .option('--limit <n>', 'dead letters per request (1 to 10000)', '1000')
    .action(async (id: string, options: { from?: string; deadLetters?: boolean; limit: string }) => {
      if ((options.from === undefined) === !options.deadLetters)
        return setExitCode(usage('give exactly one of --from <time> and --dead-letters'));
      if (options.from !== undefined) {
        const result = await callActivatorApi<unknown>(config(), 'POST', path(id, '/replay'), { from: options.from });
        if (!result.ok) return setExitCode(reportFailure('destination replay', result));
        print(result.body);
        return setExitCode(0);
      }
      const totals = { replayed: 0, delivered: 0, deadLettered: 0, withheld: 0 };
      for (;;) {
        const result = await callActivatorApi<typeof totals & { remaining: boolean }>(
          config(),
          'POST',
          `${path(id, '/dead-letters/replay')}?limit=${encodeURIComponent(options.limit)}`,
        );
        if (!result.ok) return setExitCode(reportFailure('destination replay', result));
        for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += result.body[key];
        process.stderr.write(`replayed ${totals.replayed} dead letters so far\n`);
        if (!result.body.remaining) break;
      }
      print(totals);
      setExitCode(0);
    });

  for (const [name, description, method, action] of [
    ['pause', 'stop delivering (changes wait, nothing is lost)', 'POST', '/pause'],
    ['resume', 'deliver again from where it stopped', 'POST', '/resume'],
    ['test', 'send one signed test message now', 'POST', '/test'],
    ['rotate-secret', 'make a new signing secret (the old one signs too for a day)', 'POST', '/rotate-secret'],
    ['export', 'run an export destination now', 'POST', '/export'],
    ['delete', 'delete a destination', 'DELETE', ''],
  ] as const) {
    destination
      .command(name)
      .description(description)
      .argument('<id>')
      .action(async (id: string) => setExitCode(await simple(config(), name, method, path(id, action))));
  }
}
