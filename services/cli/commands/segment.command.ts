import fs from 'node:fs';
import type { Command } from 'commander';
import type { CliConfig } from '../config';
import { callReadApi, reportFailure } from './read-api.client';
import { formatTable } from './table-format';

/**
 * `kumiki segment create|list|show|members|delete` over the read API's segment endpoints
 * (`GET|POST /v1/segments`, `GET|DELETE /v1/segments/{id}`, `GET /v1/segments/{id}/members`).
 *
 *   kumiki segment create <name> --sql "SELECT profile_id FROM …" [--purpose marketing]
 *   kumiki segment create <name> --rule '{"trait":"plan","op":"eq","value":"pro"}'
 *   kumiki segment create <name> --rule-file rule.json
 *   kumiki segment list [--format table|json]
 *   kumiki segment show <id>
 *   kumiki segment members <id> [--limit N] [--all] [--format table|json]
 *   kumiki segment delete <id>
 *
 * Exit codes: 0 done, 1 the API refused or could not be reached (its `code: message` on
 * stderr), 2 bad usage.
 */
interface SegmentBody {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly purpose: string | null;
  readonly createdAt: string;
}

interface MembersPage {
  readonly members: Array<{ profileId: string; since: string }>;
  readonly next: string | null;
}

function usage(message: string): number {
  process.stderr.write(`kumiki segment: ${message}\n`);
  return 2;
}

export interface CreateOptions {
  readonly sql?: string;
  readonly rule?: string;
  readonly ruleFile?: string;
  readonly purpose?: string;
}

/** The POST body for `segment create`, or a usage problem. Exported for unit tests. */
export function createBody(
  name: string,
  options: CreateOptions,
  readFile: (path: string) => string = (p) => fs.readFileSync(p, 'utf8'),
): { body: Record<string, unknown> } | { problem: string } {
  const given = [options.sql, options.rule, options.ruleFile].filter((v) => v !== undefined).length;
  if (given !== 1) return { problem: 'give exactly one of --sql, --rule, --rule-file' };
  let definition: Record<string, unknown>;
  if (options.sql !== undefined) definition = { sql: options.sql };
  else {
    let text: string;
    try {
      text = options.rule ?? readFile(options.ruleFile!);
    } catch (error) {
      return { problem: `cannot read ${options.ruleFile}: ${(error as Error).message}` };
    }
    try {
      definition = { rule: JSON.parse(text) as unknown };
    } catch (error) {
      return { problem: `the rule is not JSON: ${(error as Error).message}` };
    }
  }
  return { body: { name, ...definition, ...(options.purpose !== undefined ? { purpose: options.purpose } : {}) } };
}

async function create(config: CliConfig, name: string, options: CreateOptions): Promise<number> {
  const made = createBody(name, options);
  if ('problem' in made) return usage(made.problem);
  const result = await callReadApi<SegmentBody>(config, 'POST', '/v1/segments', made.body);
  if (!result.ok) return reportFailure('segment create', result);
  process.stdout.write(`${JSON.stringify(result.body, null, 2)}\n`);
  return 0;
}

async function list(config: CliConfig, format: string): Promise<number> {
  if (format !== 'table' && format !== 'json') return usage('--format must be table or json');
  const result = await callReadApi<{ segments: SegmentBody[] }>(config, 'GET', '/v1/segments');
  if (!result.ok) return reportFailure('segment list', result);
  const rows = result.body.segments.map((s) => ({
    id: s.id,
    name: s.name,
    kind: s.kind,
    purpose: s.purpose ?? '',
    created: s.createdAt,
  }));
  process.stdout.write(format === 'json' ? `${JSON.stringify(result.body.segments, null, 2)}\n` : formatTable(rows));
  return 0;
}

async function show(config: CliConfig, id: string): Promise<number> {
  const result = await callReadApi<SegmentBody>(config, 'GET', `/v1/segments/${encodeURIComponent(id)}`);
  if (!result.ok) return reportFailure('segment show', result);
  process.stdout.write(`${JSON.stringify(result.body, null, 2)}\n`);
  return 0;
}

async function members(
  config: CliConfig,
  id: string,
  options: { limit: string; all?: boolean; format: string },
): Promise<number> {
  if (options.format !== 'table' && options.format !== 'json') return usage('--format must be table or json');
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    return usage('--limit must be an integer from 1 to 10000');
  const all: MembersPage['members'] = [];
  let after: string | null = '';
  // Pages follow the API's cursor; without --all only the first page is printed.
  while (after !== null) {
    const query: string = `?limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
    const result = await callReadApi<MembersPage>(
      config,
      'GET',
      `/v1/segments/${encodeURIComponent(id)}/members${query}`,
    );
    if (!result.ok) return reportFailure('segment members', result);
    all.push(...result.body.members);
    after = options.all ? result.body.next : null;
  }
  process.stdout.write(
    options.format === 'json'
      ? `${JSON.stringify(all, null, 2)}\n`
      : formatTable(all.map((m) => ({ profile_id: m.profileId, since: m.since }))),
  );
  return 0;
}

async function remove(config: CliConfig, id: string): Promise<number> {
  const result = await callReadApi<unknown>(config, 'DELETE', `/v1/segments/${encodeURIComponent(id)}`);
  if (!result.ok) return reportFailure('segment delete', result);
  process.stdout.write(`deleted ${id}\n`);
  return 0;
}

export function registerSegmentCommands(
  program: Command,
  config: () => CliConfig,
  setExitCode: (code: number) => void,
): void {
  const segment = program.command('segment').description('saved segments: create, list, show, members, delete');
  segment
    .command('create')
    .description('save a segment from SQL returning profile_id, or from a JSON rule')
    .argument('<name>', 'segment name')
    .option('--sql <query>', 'a read-only SELECT returning profile_id')
    .option('--rule <json>', 'a JSON rule (see docs/segments.md)')
    .option('--rule-file <path>', 'a file holding the JSON rule')
    .option('--purpose <purpose>', 'consent purpose every member must have granted')
    .action(async (name: string, options: CreateOptions) => setExitCode(await create(config(), name, options)));
  segment
    .command('list')
    .description('list saved segments')
    .option('--format <format>', 'table or json', 'table')
    .action(async (options: { format: string }) => setExitCode(await list(config(), options.format)));
  segment
    .command('show')
    .description('show a segment (its SQL, rule, purpose)')
    .argument('<id>', 'segment id')
    .action(async (id: string) => setExitCode(await show(config(), id)));
  segment
    .command('members')
    .description("list a segment's current members")
    .argument('<id>', 'segment id')
    .option('--limit <n>', 'members per page (1 to 10000)', '1000')
    .option('--all', 'follow the pages to the last member')
    .option('--format <format>', 'table or json', 'table')
    .action(async (id: string, options: { limit: string; all?: boolean; format: string }) =>
      setExitCode(await members(config(), id, options)),
    );
  segment
    .command('delete')
    .description('delete a segment (refused while a rule refers to it); its members exit at the next sweep')
    .argument('<id>', 'segment id')
    .action(async (id: string) => setExitCode(await remove(config(), id)));
}
