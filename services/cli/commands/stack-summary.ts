import path from 'node:path';
import type { Credentials } from '../../common/credentials';
import type { ComponentName } from '../local/run-state';

/** What `kumiki up` prints once everything answers. Pure, so its layout is unit-tested. */
export interface SummaryInput {
  readonly components: readonly { name: ComponentName; address: string; pid: number | null }[];
  readonly credentials: Credentials;
  readonly credentialsFile: string;
  readonly logsDir: string;
  /** The web console's address, when the materializer is part of the stack. */
  readonly consoleUrl?: string;
  readonly detached: boolean;
  /** Paths are shown relative to here when they are inside it. */
  readonly cwd: string;
}

const labels: Readonly<Record<ComponentName, string>> = {
  kafka: 'Kafka',
  registry: 'schema registry',
  'profile-materializer': 'materializer (read API)',
  activator: 'activator (destinations API)',
  'identity-stitcher': 'identity-stitcher',
  collector: 'collector',
};

export function formatSummary(input: SummaryInput): string {
  const show = (file: string): string => {
    const relative = path.relative(input.cwd, file);
    return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
  };
  const rows = input.components.map((c) => [
    labels[c.name],
    c.address,
    c.pid === null ? 'not started by kumiki' : `pid ${c.pid}`,
  ]);
  const lines = [
    `kumiki is up${input.detached ? ' (detached)' : ''}`,
    '',
    ...table(rows).map((line) => `  ${line}`),
    '',
    ...table([
      ...(input.consoleUrl ? [['console', input.consoleUrl, '(web console: sign in with the admin token)']] : []),
      ['write key', input.credentials.writeKey, '(collector: Basic-auth user)'],
      ['admin token', input.credentials.adminToken, '(read and destinations APIs: Authorization: Bearer …)'],
      ['credentials', show(input.credentialsFile), ''],
      ['logs', `${show(input.logsDir)}${path.sep}<component>.log`, ''],
      ['stop', input.detached ? 'kumiki down' : 'Ctrl-C (or `kumiki down` from another terminal)', ''],
    ]).map((line) => `  ${line}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Left-aligned columns separated by two spaces, trailing blanks trimmed. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}
