/**
 * Keeping profile_aliases flat (absorbed → surviving, never a chain).
 *
 * Merges arrive on kumiki.identity.changes keyed by survivor, so two merges of one chain
 * (B into A, then A into Z) may sit on different partitions and be read in either order. The
 * rule below ends in the same flat map for any order:
 *   - the survivor is first resolved through the map (A already went into Z → target is Z);
 *   - every absorbed id, and every id that was absorbed into one of them, now points at the target.
 * A replayed merge finds the map already in that state and changes nothing (a row it rewrites
 * has the same survivor), so replays are harmless. An id never points at itself: a merge whose
 * absorbed id resolves to the target (a cycle, which the stitcher never makes) is ignored.
 */
export interface Merge {
  readonly survivor: string;
  readonly absorbed: readonly string[];
  readonly mergedAt: number;
  readonly messageId: string;
}

export interface AliasChange {
  readonly absorbed: string;
  readonly survivor: string;
  readonly mergedAt: number;
  readonly messageId: string;
}

/** Follows the (flat) map once; ids that were never absorbed map to themselves. */
export function resolveProfile(aliases: ReadonlyMap<string, string>, id: string): string {
  return aliases.get(id) ?? id;
}

/**
 * Applies merges in order to `aliases` (mutated: absorbed → survivor) and returns the rows to
 * write, one per absorbed id whose survivor changed.
 */
export function applyMerges(aliases: Map<string, string>, merges: readonly Merge[]): AliasChange[] {
  const changed = new Map<string, AliasChange>();
  for (const merge of merges) {
    const target = resolveProfile(aliases, merge.survivor);
    for (const absorbed of merge.absorbed) {
      if (absorbed === target || resolveProfile(aliases, absorbed) === target) continue;
      const moving = [absorbed, ...[...aliases].filter(([, survivor]) => survivor === absorbed).map(([id]) => id)];
      for (const id of moving) {
        if (id === target) continue;
        aliases.set(id, target);
        changed.set(id, { absorbed: id, survivor: target, mergedAt: merge.mergedAt, messageId: merge.messageId });
      }
    }
  }
  return [...changed.values()];
}

/** Ids whose current aliases `applyMerges` needs to know: every survivor and absorbed id. */
export function idsOfMerges(merges: readonly Merge[]): string[] {
  return [...new Set(merges.flatMap((m) => [m.survivor, ...m.absorbed]))];
}
