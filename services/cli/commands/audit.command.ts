import type { Command } from 'commander';
import type { CliConfig } from '../config';
import { callReadApi, parseIdentifier, reportFailure } from './read-api.client';
import { formatTable } from './table-format';

/**
 * `kumiki audit report|verify|export` over the read API's audit endpoints (scope audit:read):
 *
 *   kumiki audit report --profile email:ann@example.com [--json]   who accessed this person's data
 *   kumiki audit verify                                            walks every chain; exit 1 names the first broken link
 *   kumiki audit export --since 2025-01-01 [--until …] [--format ndjson|csv] > period.ndjson
 */
interface AuditRecordBody {
  readonly at: string;
  readonly keyId: string;
  readonly keyName: string;
  readonly role: string;
  readonly source: string;
  readonly action: string;
  readonly resource: string;
  readonly profileIds: string[];
  readonly outcome: string;
  readonly rows: number;
}

export function registerAuditCommands(
  program: Command,
  config: () => CliConfig,
  setExitCode: (code: number) => void,
): void {
  const audit = program.command('audit').description('the audit trail: report, verify, export');
  audit
    .command('report')
    .description("who accessed a person's data, when, and what they saw")
    .requiredOption('--profile <type:value>', 'an identifier of the person, e.g. email:ann@example.com')
    .option('--since <time>', 'ISO-8601 time')
    .option('--json', 'print JSON', false)
    .action(async (options: { profile: string; since?: string; json: boolean }) => {
      if (!parseIdentifier(options.profile)) {
        process.stderr.write('kumiki audit report: --profile must be TYPE:VALUE\n');
        return setExitCode(2);
      }
      const query = new URLSearchParams({
        profile: options.profile,
        ...(options.since ? { since: options.since } : {}),
      });
      const result = await callReadApi<{ records: AuditRecordBody[] }>(config(), 'GET', `/v1/audit?${query}`);
      if (!result.ok) return setExitCode(reportFailure('audit report', result));
      if (options.json) process.stdout.write(`${JSON.stringify(result.body, null, 2)}\n`);
      else
        process.stdout.write(
          formatTable(
            result.body.records.map((r) => ({
              at: r.at,
              key: `${r.keyId} (${r.keyName})`,
              role: r.role,
              source: r.source,
              action: r.action,
              resource: r.resource,
              outcome: r.outcome,
              rows: r.rows < 0 ? '' : r.rows,
            })),
          ),
        );
      setExitCode(0);
    });
  audit
    .command('verify')
    .description('walk every writer chain of the audit trail; names the first broken link')
    .option('--json', 'print JSON', false)
    .action(async (options: { json: boolean }) => {
      const result = await callReadApi<{
        ok: boolean;
        writers: number;
        records: number;
        broken?: { writerId: string; sequence: number; recordId: string; at: string; reason: string };
      }>(config(), 'GET', '/v1/audit/verify');
      if (!result.ok) return setExitCode(reportFailure('audit verify', result));
      const body = result.body;
      if (options.json) process.stdout.write(`${JSON.stringify(body)}\n`);
      else if (body.ok) process.stdout.write(`audit trail intact: ${body.records} records in ${body.writers} chains\n`);
      else
        process.stdout.write(
          `audit trail BROKEN at record ${body.broken!.recordId} (writer ${body.broken!.writerId}, sequence ${body.broken!.sequence}, ${body.broken!.at}): ${body.broken!.reason}\n`,
        );
      setExitCode(body.ok ? 0 : 1);
    });
  audit
    .command('export')
    .description('every record of a period, as NDJSON or CSV on stdout')
    .option('--since <time>', 'ISO-8601 time (inclusive)')
    .option('--until <time>', 'ISO-8601 time (exclusive)')
    .option('--format <format>', 'ndjson or csv', 'ndjson')
    .action(async (options: { since?: string; until?: string; format: string }) => {
      const query = new URLSearchParams({
        format: options.format,
        ...(options.since ? { since: options.since } : {}),
        ...(options.until ? { until: options.until } : {}),
      });
      const result = await callReadApi<string>(config(), 'GET', `/v1/audit/export?${query}`, undefined, 'text');
      if (!result.ok) return setExitCode(reportFailure('audit export', result));
      process.stdout.write(result.body);
      setExitCode(0);
    });
}
