import { table } from './stack-summary';
import type { ComponentName } from '../local/run-state';

/** One row of `kumiki status`. Pure data, so both outputs are unit-tested. */
export interface ComponentStatus {
  readonly name: ComponentName;
  readonly state: 'up' | 'down' | 'not ready';
  readonly address: string;
  /** Null when kumiki did not start it (external or reused). */
  readonly pid: number | null;
  readonly pidAlive: boolean | null;
  readonly detail: string;
}

export interface StatusReport {
  readonly ok: boolean;
  readonly components: readonly ComponentStatus[];
  /** The web console (served by the profile-materializer); null when the stack has none. */
  readonly consoleUrl: string | null;
}

export function statusReport(components: readonly ComponentStatus[], consoleUrl: string | null = null): StatusReport {
  return { ok: components.length > 0 && components.every((c) => c.state === 'up'), components, consoleUrl };
}

export function formatStatusTable(report: StatusReport): string {
  const rows = [
    ['COMPONENT', 'STATE', 'PID', 'ADDRESS', 'DETAIL'],
    ...report.components.map((c) => [c.name, c.state, pidCell(c), c.address, c.detail]),
  ];
  const consoleLine = report.consoleUrl ? `\nweb console: ${report.consoleUrl}\n` : '';
  return `${table(rows).join('\n')}\n${consoleLine}`;
}

function pidCell(c: ComponentStatus): string {
  if (c.pid === null) return '-';
  return c.pidAlive ? String(c.pid) : `${c.pid} (gone)`;
}
