import fs from 'node:fs';
import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { PrivacyKey, readPrivacyKeyFile } from '../../common/privacy/privacy-key';
import { verifyReport, type PrivacyReport } from '../../common/privacy/privacy-report';
import type { PrivacyRequestType } from '../../common/privacy/privacy-request';
import { sleep } from '../../common/retry';
import type { CliConfig } from '../config';
import { callReadApi, parseIdentifier, reportFailure } from './read-api.client';
import { formatTable } from './table-format';

/**
 * `kumiki privacy …` over the read API's privacy endpoints (docs/privacy.md):
 *
 *   kumiki privacy erase TYPE:VALUE [--reason R] [--wait]
 *   kumiki privacy suppress TYPE:VALUE [--and-erase] [--reason R] [--wait]
 *   kumiki privacy unsuppress TYPE:VALUE [--reason R] [--wait]
 *   kumiki privacy export TYPE:VALUE [--out FILE] [--reason R]     (waits, then writes the JSON)
 *   kumiki privacy status ID [--json]
 *   kumiki privacy verify ID [--json]
 *   kumiki privacy list [--status S] [--type T] [--limit N] [--json]
 *
 * `verify` checks the report's signature here, with the privacy key (KUMIKI_PRIVACY_KEY, else
 * `.kumiki/privacy.key`): a report changed after it was signed does not verify.
 *
 * Exit codes: 0 done (for erase with --wait: completed and verified); 1 the API refused or could
 * not be reached, the request failed, or the report does not verify; 2 bad usage.
 */
export interface RequestAnswer {
  readonly requestId: string;
  readonly type: PrivacyRequestType;
  readonly status: 'pending' | 'running' | 'completed' | 'failed';
  readonly outcome: string;
  readonly step?: { readonly name: string; readonly done: number; readonly of: number };
  readonly identifier: { readonly type: string; readonly hash: string };
  readonly requestedAt: string;
  readonly deadlineAt: string;
  readonly completedAt: string | null;
  readonly subject?: unknown;
  readonly report?: PrivacyReport | null;
}

function usage(message: string): number {
  process.stderr.write(`kumiki privacy: ${message}\n`);
  return 2;
}

async function file(
  config: CliConfig,
  type: PrivacyRequestType,
  identifier: string,
  options: { reason?: string },
): Promise<{ requestId: string; deadlineAt: string } | number> {
  const parsed = parseIdentifier(identifier);
  if (!parsed)
    return usage(`give the identifier as TYPE:VALUE (e.g. email:ann@example.com), not ${JSON.stringify(identifier)}`);
  const result = await callReadApi<{ requestId: string; deadlineAt: string }>(config, 'POST', '/v1/privacy/requests', {
    type,
    identifier: parsed,
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
  });
  if (!result.ok) return reportFailure(`privacy ${type}`, result);
  return result.body;
}

/** Polls the request until it is completed or failed, with a progress bar of its steps on a terminal. */
async function waitFor(config: CliConfig, requestId: string, intervalMs = 500): Promise<RequestAnswer | number> {
  const bar = process.stderr.isTTY
    ? new SingleBar(
        { format: 'privacy {bar} {value}/{total} steps | {step}', clearOnComplete: true, stream: process.stderr },
        Presets.shades_classic,
      )
    : undefined;
  let started = false;
  try {
    for (;;) {
      const result = await callReadApi<RequestAnswer>(
        config,
        'GET',
        `/v1/privacy/requests/${encodeURIComponent(requestId)}`,
      );
      if (!result.ok && result.status !== 404) return reportFailure('privacy status', result);
      const answer = result.ok ? result.body : undefined;
      if (answer?.step && bar) {
        if (!started) bar.start(answer.step.of, 0, { step: answer.status });
        started = true;
        bar.update(answer.step.done, { step: answer.step.name || answer.status });
      }
      if (answer && (answer.status === 'completed' || answer.status === 'failed')) return answer;
      await sleep(intervalMs);
    }
  } finally {
    if (started) bar?.stop();
  }
}

async function request(
  config: CliConfig,
  type: PrivacyRequestType,
  identifier: string,
  options: { reason?: string; wait?: boolean; json?: boolean },
): Promise<number> {
  const filed = await file(config, type, identifier, options);
  if (typeof filed === 'number') return filed;
  if (!options.wait) {
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ ...filed, status: 'pending' }, null, 2)}\n`
        : `${type} request ${filed.requestId} accepted (deadline ${filed.deadlineAt}); follow it with: kumiki privacy status ${filed.requestId}\n`,
    );
    return 0;
  }
  const answer = await waitFor(config, filed.requestId);
  if (typeof answer === 'number') return answer;
  printAnswer(answer, options.json ?? false);
  return answer.status === 'completed' && answer.report?.verified !== false ? 0 : 1;
}

async function exportCommand(
  config: CliConfig,
  identifier: string,
  options: { reason?: string; out?: string },
): Promise<number> {
  const filed = await file(config, 'export', identifier, options);
  if (typeof filed === 'number') return filed;
  const answer = await waitFor(config, filed.requestId);
  if (typeof answer === 'number') return answer;
  if (answer.status !== 'completed') {
    process.stderr.write(`kumiki privacy export: request ${answer.requestId} failed: ${answer.outcome}\n`);
    return 1;
  }
  const result = await callReadApi<unknown>(
    config,
    'GET',
    `/v1/privacy/requests/${encodeURIComponent(filed.requestId)}/export`,
  );
  if (!result.ok) return reportFailure('privacy export', result);
  const text = `${JSON.stringify(result.body, null, 2)}\n`;
  if (options.out) {
    // Personal data: readable by the owner only, like the credentials.
    fs.writeFileSync(options.out, text, { mode: 0o600 });
    process.stderr.write(`export of request ${filed.requestId} written to ${options.out}\n`);
  } else process.stdout.write(text);
  return 0;
}

async function status(config: CliConfig, id: string, json: boolean): Promise<number> {
  const result = await callReadApi<RequestAnswer>(config, 'GET', `/v1/privacy/requests/${encodeURIComponent(id)}`);
  if (!result.ok) return reportFailure('privacy status', result);
  printAnswer(result.body, json);
  return 0;
}

function printAnswer(answer: RequestAnswer, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return;
  }
  const lines = [
    `request    ${answer.requestId} (${answer.type})`,
    `status     ${answer.status}${answer.step && answer.status === 'running' ? ` (${answer.step.name}, step ${answer.step.done} of ${answer.step.of})` : ''}`,
    `identifier ${answer.identifier.type} (keyed hash ${answer.identifier.hash})`,
    `requested  ${answer.requestedAt}, deadline ${answer.deadlineAt}`,
    ...(answer.completedAt ? [`completed  ${answer.completedAt}`] : []),
    ...(answer.outcome ? [`outcome    ${answer.outcome}`] : []),
  ];
  const report = answer.report;
  if (report) {
    lines.push(`verified   ${report.verified ? 'yes: no table or view names the person' : 'NO'}`, '');
    const stores = report.clickhouse.filter((s) => s.rows > 0 || (s.after ?? 0) > 0);
    if (stores.length > 0)
      lines.push(
        formatTable(
          stores.map((s) => ({ store: s.store, rows: s.rows, deleted: s.deleted, after: s.after ?? '' })),
        ).trimEnd(),
        '',
      );
    if (report.kafka.length > 0)
      lines.push(
        formatTable(report.kafka.map((k) => ({ topic: k.topic, action: k.action, records: k.records }))).trimEnd(),
        '',
      );
    const residual = report.residual.filter((r) => r.records > 0);
    if (residual.length > 0)
      lines.push(
        'left on Kafka until retention removes it:',
        formatTable(
          residual.map((r) => ({ topic: r.topic, records: r.records, 'removed by': r.removedBy ?? 'no bound' })),
        ).trimEnd(),
      );
    for (const note of report.notes) lines.push(`note: ${note}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function verify(config: CliConfig, id: string, json: boolean): Promise<number> {
  const hex = config.privacyKey ?? (await readPrivacyKeyFile(config.paths.privacyKey));
  if (!hex) return usage(`no privacy key: set KUMIKI_PRIVACY_KEY or run where ${config.paths.privacyKey} is`);
  const result = await callReadApi<RequestAnswer>(config, 'GET', `/v1/privacy/requests/${encodeURIComponent(id)}`);
  if (!result.ok) return reportFailure('privacy verify', result);
  const report = result.body.report;
  if (!report) {
    process.stderr.write(`kumiki privacy verify: request ${id} has no report yet (${result.body.status})\n`);
    return 1;
  }
  const checked = verifyReport(report, PrivacyKey.fromHex(hex));
  const ok = checked.valid && report.verified;
  const outcome = {
    requestId: id,
    signature: checked.valid ? 'valid' : 'invalid',
    reason: checked.reason,
    verified: report.verified,
    deadlineMet: report.deadlineMet,
  };
  process.stdout.write(
    json
      ? `${JSON.stringify(outcome, null, 2)}\n`
      : `${id}: signature ${outcome.signature} (${checked.reason}); ${report.verified ? 'every table and view verified empty of the person' : 'NOT verified: see the report notes'}; deadline ${report.deadlineMet ? 'met' : 'MISSED'}\n`,
  );
  return ok ? 0 : 1;
}

async function list(
  config: CliConfig,
  options: { status?: string; type?: string; limit: string; json?: boolean },
): Promise<number> {
  const query = new URLSearchParams({ limit: options.limit });
  if (options.status) query.set('status', options.status);
  if (options.type) query.set('type', options.type);
  const result = await callReadApi<{ requests: RequestAnswer[] }>(config, 'GET', `/v1/privacy/requests?${query}`);
  if (!result.ok) return reportFailure('privacy list', result);
  process.stdout.write(
    options.json
      ? `${JSON.stringify(result.body.requests, null, 2)}\n`
      : formatTable(
          result.body.requests.map((r) => ({
            id: r.requestId,
            type: r.type,
            status: r.status,
            identifier: `${r.identifier.type} ${r.identifier.hash}`,
            requested: r.requestedAt,
            completed: r.completedAt ?? '',
          })),
        ),
  );
  return 0;
}

export function registerPrivacyCommands(
  program: Command,
  config: () => CliConfig,
  setExitCode: (code: number) => void,
): void {
  const privacy = program
    .command('privacy')
    .description('privacy requests: erase, suppress, unsuppress, export a person; status, verify, list');
  for (const [type, description] of [
    ['erase', 'erase the person behind an identifier everywhere (GDPR Art. 17)'],
    ['unsuppress', 'lift a suppression'],
  ] as const) {
    privacy
      .command(type)
      .description(description)
      .argument('<TYPE:VALUE>', 'an identifier of the person, e.g. email:ann@example.com')
      .option('--reason <text>', 'why (a ticket number; no identifiers)')
      .option('--wait', 'wait until it is completed and print the report')
      .option('--json', 'print JSON')
      .action(async (identifier: string, options: { reason?: string; wait?: boolean; json?: boolean }) =>
        setExitCode(await request(config(), type, identifier, options)),
      );
  }
  privacy
    .command('suppress')
    .description('stop collecting about the person: their events are accepted but never stored or stitched')
    .argument('<TYPE:VALUE>', 'an identifier of the person')
    .option('--and-erase', 'also erase what is held (suppress_and_erase)')
    .option('--reason <text>', 'why (a ticket number; no identifiers)')
    .option('--wait', 'wait until it is completed and print the report')
    .option('--json', 'print JSON')
    .action(
      async (identifier: string, options: { andErase?: boolean; reason?: string; wait?: boolean; json?: boolean }) =>
        setExitCode(await request(config(), options.andErase ? 'suppress_and_erase' : 'suppress', identifier, options)),
    );
  privacy
    .command('export')
    .description('everything held about the person, as one JSON document (GDPR Art. 15); waits for it')
    .argument('<TYPE:VALUE>', 'an identifier of the person')
    .option('--out <file>', 'write the document here (mode 0600) instead of stdout')
    .option('--reason <text>', 'why (a ticket number; no identifiers)')
    .action(async (identifier: string, options: { out?: string; reason?: string }) =>
      setExitCode(await exportCommand(config(), identifier, options)),
    );
  privacy
    .command('status')
    .description('a request: its status, the person resolved, and its report once done')
    .argument('<id>', 'request id')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) =>
      setExitCode(await status(config(), id, options.json ?? false)),
    );
  privacy
    .command('verify')
    .description("check a report's signature with the privacy key, and that it verified the person gone")
    .argument('<id>', 'request id')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) =>
      setExitCode(await verify(config(), id, options.json ?? false)),
    );
  privacy
    .command('list')
    .description('privacy requests, newest first (identifiers as keyed hashes)')
    .option('--status <status>', 'pending, running, completed or failed')
    .option('--type <type>', 'erase, suppress, suppress_and_erase, unsuppress or export')
    .option('--limit <n>', 'at most this many (1 to 1000)', '100')
    .option('--json', 'print JSON')
    .action(async (options: { status?: string; type?: string; limit: string; json?: boolean }) =>
      setExitCode(await list(config(), options)),
    );
}
