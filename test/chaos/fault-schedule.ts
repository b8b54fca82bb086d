import { mulberry32 } from '../../services/cli/demo/demo-population';

/**
 * The chaos run's faults, a pure function of the seed, printed before the run so that a failure
 * can be replayed with the same schedule (`CHAOS_SEED=S`).
 *
 * Each target (a service, the broker) gets its faults at random moments, one in each of as
 * many equal slots of the fault window as it has faults: random, yet spread over the whole run
 * and exactly as many as asked. Kills are SIGKILL; some are aimed (`aim`) at the moment a
 * service has a transaction open, through the test-only hook that service has for it (see
 * `aimedKills` in pipeline-under-test.ts). A zombie is a service SIGSTOPped inside an open
 * transaction for longer than its session timeout while a replacement takes over, then resumed:
 * it must be fenced, never commit.
 */
export type Fault =
  | {
      readonly atMs: number;
      readonly kind: 'kill';
      readonly service: string;
      readonly aimed: boolean;
      /**
       * The process killed has lived at least this long: when its lane runs late (an aimed kill
       * waited for its transaction), the next kill would otherwise find one a few milliseconds old.
       */
      readonly minAgeMs: number;
    }
  | { readonly atMs: number; readonly kind: 'zombie'; readonly service: string; readonly stoppedMs: number }
  | {
      readonly atMs: number;
      readonly kind: 'broker';
      /** `restart`: SIGTERM and a clean start; `crash`: SIGKILL. */
      readonly how: 'restart' | 'crash';
      readonly downMs: number;
    };

export interface ScheduleRequest {
  readonly seed: number;
  readonly windowMs: number;
  /** Services to kill, and how many times each. */
  readonly kills: Readonly<Record<string, number>>;
  /** Share of each service's kills that are aimed, for services that can be aimed at a transaction. */
  readonly aimedShare: Readonly<Record<string, number>>;
  readonly brokerBounces: number;
  /** Zombies of which service, and how many; each stopped longer than `minStoppedMs`. */
  readonly zombies: { readonly service: string; readonly count: number; readonly minStoppedMs: number } | undefined;
}

export function faultSchedule(request: ScheduleRequest): Fault[] {
  const random = mulberry32(request.seed ^ 0x5eed_c4a0);
  // The first and last few percent are left quiet: the run starts up, and faults near the
  // end of the window would only be caught by the drain.
  const start = request.windowMs * 0.05;
  const span = request.windowMs * 0.9;
  const moments = (count: number): number[] =>
    Array.from({ length: count }, (_, i) => Math.round(start + ((i + random()) * span) / count));
  const faults: Fault[] = [];
  for (const [service, count] of Object.entries(request.kills)) {
    const share = request.aimedShare[service] ?? 0;
    for (const atMs of moments(count))
      faults.push({
        atMs,
        kind: 'kill',
        service,
        aimed: random() < share,
        minAgeMs: 500 + Math.round(random() * 5_000),
      });
  }
  for (const atMs of moments(request.brokerBounces)) {
    faults.push({
      atMs,
      kind: 'broker',
      how: random() < 0.5 ? 'restart' : 'crash',
      downMs: 1_000 + Math.round(random() * 9_000),
    });
  }
  if (request.zombies) {
    const { service, count, minStoppedMs } = request.zombies;
    for (const atMs of moments(count)) {
      faults.push({ atMs, kind: 'zombie', service, stoppedMs: minStoppedMs + Math.round(random() * 10_000) });
    }
  }
  return faults.sort((a, b) => a.atMs - b.atMs);
}

/** The schedule as printed: one line per fault, `mm:ss.s what`. */
export function formatSchedule(faults: readonly Fault[]): string {
  return faults.map((fault) => `${clock(fault.atMs)} ${describe(fault)}`).join('\n');
}

function describe(fault: Fault): string {
  if (fault.kind === 'kill') return `SIGKILL ${fault.service}${fault.aimed ? ' inside a transaction' : ''}`;
  if (fault.kind === 'zombie')
    return `SIGSTOP ${fault.service} inside a transaction for ${(fault.stoppedMs / 1000).toFixed(1)} s, replace it, SIGCONT`;
  return `broker ${fault.how === 'crash' ? 'SIGKILL' : 'restart'}, down ${(fault.downMs / 1000).toFixed(1)} s`;
}

/** `mm:ss.s` of a time since the run's start. */
export function clock(ms: number): string {
  return `${String(Math.floor(ms / 60_000)).padStart(2, '0')}:${((ms % 60_000) / 1000).toFixed(1).padStart(4, '0')}`;
}
