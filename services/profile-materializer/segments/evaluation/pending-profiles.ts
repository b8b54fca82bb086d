import type { EvaluatedSegment } from './membership.repository';

/**
 * A pending profile: when first handed over (wall clock, for the lag), how many times, and for
 * which segments — every one (touched by a batch), or those reading one of these tables.
 */
export interface Pending {
  readonly since: number;
  touches: number;
  /** Shared between the ids of one hand-over and never changed in place (widen() copies). */
  scope: Scope;
}

export type Scope = 'all' | ReadonlySet<string>;

/**
 * The profiles waiting for an incremental run, oldest first. An id handed over again while a
 * run evaluates it stays pending for the next run, since that run may have read the profile
 * before the new data was written. Sources of derived data wait (`below`) while too many are.
 */
export class PendingProfiles {
  private readonly pending = new Map<string, Pending>();
  private waiters: Array<{ limit: number; resolve: () => void }> = [];

  get size(): number {
    return this.pending.size;
  }

  /** When the oldest pending profile was handed over (wall clock), if any. */
  oldestSince(): number | undefined {
    for (const entry of this.pending.values()) return entry.since; // Map keeps insertion order
    return undefined;
  }

  hold(profileIds: Iterable<string>, scope: Scope, at: number): void {
    for (const id of profileIds) {
      const entry = this.pending.get(id);
      if (!entry) this.pending.set(id, { since: at, touches: 1, scope });
      else {
        entry.touches += 1;
        entry.scope = widen(entry.scope, scope);
      }
    }
  }

  /** The oldest `max` ids, as they stand now (copies: a later hand-over does not change them). */
  take(max: number): Array<[string, Pending]> {
    const taken: Array<[string, Pending]> = [];
    for (const [id, entry] of this.pending) {
      taken.push([id, { ...entry }]);
      if (taken.length >= max) break;
    }
    return taken;
  }

  /** A run evaluated `taken`: those not handed over again meanwhile are done. */
  settle(taken: ReadonlyArray<readonly [string, Pending]>, stopped: boolean): void {
    for (const [id, { touches }] of taken) if (this.pending.get(id)?.touches === touches) this.pending.delete(id);
    this.release(stopped);
  }

  /** Resolves once fewer than `limit` ids are pending (at once when they are), or evaluation stopped. */
  below(limit: number, stopped: boolean): Promise<void> {
    if (this.pending.size < limit || stopped) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ limit, resolve }));
  }

  /** Lets through the waiters whose bound is met now (all of them once evaluation stopped). */
  release(stopped: boolean): void {
    this.waiters = this.waiters.filter(({ limit, resolve }) => {
      if (!stopped && this.pending.size >= limit) return true;
      resolve();
      return false;
    });
  }
}

/** Where membership is kept: what `segment_members` and inSegment rules read. */
const MEMBERSHIP_STORE = 'segment_members_store';

/**
 * The profiles a run evaluates `segment` for: the touched ones (expanded) and those whose derived
 * data changed in a table the segment reads; sorted, without duplicates. A segment that reads
 * segment membership (an `inSegment` rule, SQL over segment_members) takes every derived id of
 * the run: the segments evaluated before it may have moved those profiles. So does one not yet
 * analysed (reads = null).
 */
export function candidatesOf(
  segment: Pick<EvaluatedSegment, 'reads'>,
  expanded: readonly string[],
  taken: ReadonlyArray<readonly [string, { readonly scope: Scope }]>,
): string[] {
  const reads = segment.reads;
  const every = reads === null || reads.includes(MEMBERSHIP_STORE);
  const derived = taken
    .filter(([, { scope }]) => scope !== 'all' && (every || reads.some((table) => scope.has(table))))
    .map(([id]) => id);
  return derived.length === 0 ? [...expanded] : [...new Set([...expanded, ...derived])].sort();
}

/** The scope of an id handed over twice: every segment if either was, else the tables of both. */
function widen(held: Scope, added: Scope): Scope {
  if (held === 'all' || added === 'all') return 'all';
  if (held === added || [...added].every((table) => held.has(table))) return held;
  return new Set([...held, ...added]);
}
