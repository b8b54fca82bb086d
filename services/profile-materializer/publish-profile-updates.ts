import type { Predictions, ProfileUpdate } from '../../schemas';
import { KumikiError, errorMessage } from '../common/errors';
import { resolveProfile } from './alias-map';
import type { MaterializeDeps } from './materialize-deps';
import { UPDATE_TRAITS_BYTES, type ProfileSnapshot } from './profile.repository';
import type { RfmRow } from './rfm/rfm';
import type { WrittenChunk } from './store-chunk';

/**
 * Phase 2, once per consumed Kafka batch (all its chunks): snapshot every touched surviving
 * profile from ClickHouse, read its RFM, and publish one ProfileUpdate per profile (and one
 * `mergedInto` record per absorbed profile). Resolves once Kafka acknowledged them. Done once
 * per batch rather than per chunk because its cost is per profile, not per event.
 */
export async function refreshProfiles(chunks: readonly WrittenChunk[], deps: MaterializeDeps): Promise<number> {
  const touched = new Set(chunks.flatMap((c) => [...c.touched]));
  const absorbed = new Map(chunks.flatMap((c) => [...c.absorbed]));
  if (touched.size === 0 && absorbed.size === 0) return 0;
  const published = await publishProfileUpdates([...touched], deps, absorbed);
  if (chunks.some((c) => c.changesRfm)) deps.rfmInputsChanged?.();
  return published;
}

/**
 * Snapshots the current survivors of `profileIds` (an absorbed id stands for the profile it
 * was merged into), reads their RFM and segments, and publishes a ProfileUpdate for each, plus
 * a `mergedInto` record per entry of `absorbed` (absorbed → its survivor at merge time,
 * resolved again here); resolves with how many once Kafka acknowledged them.
 *
 * ORDER. Several paths publish ProfileUpdates of one profile (the consumer's refresh, RFM
 * snapshots, segment changes), each reading state at one moment and sending later. On a
 * compacted topic the last record sent wins, so every read-and-send runs under
 * `deps.exclusive`: a publish that starts after another finished reads state at least as new
 * (aliases included), so the last record of a profile is built from the newest state (its
 * current segments included). The consumer waits at most for the one publish under way, which
 * background paths keep to a bounded chunk of profiles.
 */
export function publishProfileUpdates(
  profileIds: readonly string[],
  deps: MaterializeDeps,
  absorbed: ReadonlyMap<string, string> = new Map(),
): Promise<number> {
  const exclusive = deps.exclusive ?? ((task) => task());
  return exclusive(async () => {
    const now = deps.now ?? Date.now;
    const aliases = await deps.repository.loadAliasGroups([...profileIds, ...absorbed.values()]);
    const mergedInto = new Map([...absorbed].map(([id, survivor]) => [id, resolveProfile(aliases, survivor)]));
    // A profile being erased is not written again (its rows are hidden and about to be deleted).
    const survivors = [...new Set(profileIds.map((id) => resolveProfile(aliases, id)))]
      .filter((id) => !mergedInto.has(id) && !deps.erased?.isErasing(id))
      .sort();
    const snapshots = await deps.repository.readSnapshots(survivors, aliases);
    for (const { profileId, updateTraits } of snapshots) {
      if (!updateTraits) continue;
      deps.metrics?.traitsLeftOut.inc(updateTraits.leftOut);
      deps.logger.warn(
        { profileId, leftOut: updateTraits.leftOut, maxBytes: UPDATE_TRAITS_BYTES },
        'traits above the ProfileUpdate bound: the keys set longest ago are left out of it (kept in ClickHouse)',
      );
    }
    // profiles_store takes the snapshots while their RFM and segments are read and the updates
    // sent: nothing below reads profiles_store, and the publish is done once both are.
    const stored = deps.repository.writeSnapshots(snapshots);
    const sent = (async () => {
      const asOf = now();
      const rfm =
        snapshots.length > 0 ? await deps.readRfm(snapshots.map((s) => s.profileId)) : new Map<string, RfmRow>();
      const segments = await deps.repository.segmentsOf(snapshots.map((s) => s.profileId));
      const predictions = (await deps.readPredictions?.(snapshots.map((s) => s.profileId))) ?? new Map();
      const updates: ProfileUpdate[] = [
        ...snapshots.map((s) =>
          toProfileUpdate(
            s,
            rfm.get(s.profileId) ?? null,
            segments.get(s.profileId) ?? [],
            asOf,
            predictions.get(s.profileId) ?? null,
          ),
        ),
        ...[...mergedInto].map(([profileId, survivor]) => mergedProfileUpdate(profileId, survivor, asOf)),
      ];
      await deps.producer.send(
        deps.topics.updates,
        updates.map((update) => ({ key: update.profileId, value: deps.encode(deps.topics.updates, update) })),
      );
      return updates.length;
    })();
    // Both settle before the next publish may start (see ORDER above), failed or not.
    const [written, published] = await Promise.allSettled([stored, sent]);
    if (written.status === 'rejected') throw written.reason;
    if (published.status === 'rejected') throw published.reason;
    deps.metrics?.profileUpdates.inc(published.value);
    return published.value;
  });
}

/** Why profiles are published again without an event of their own. */
export type RepublishReason = 'rfm' | 'segments' | 'predictions';

/** A republish did not finish; the profiles it did not publish are kept for the next one. */
export class ProfileRepublishError extends KumikiError {
  readonly isRetriable = true;
}

/**
 * Publishes fresh ProfileUpdates for profiles that changed without an event of their own (RFM
 * scores moved in a snapshot, segment membership changed), in chunks of `chunkSize` so a
 * million of them never sit in memory at once and the consumer never waits for more than one
 * chunk (see publishProfileUpdates). A merged-away id gets its survivor published, never a
 * record of its own: its `mergedInto` record was published with the merge and must stay its last one.
 *
 * A failed chunk rejects with ProfileRepublishError; its profiles and the ones after it are kept
 * and published first by the next call, whatever its reason (the next occasion).
 */
export function createProfileRepublisher(
  options: { readonly chunkSize?: number } = {},
): (profileIds: readonly string[], deps: MaterializeDeps, reason: RepublishReason) => Promise<number> {
  const chunkSize = options.chunkSize ?? 5_000;
  const failed = new Set<string>();
  return async (profileIds, deps, reason) => {
    const ids = [...new Set([...failed, ...profileIds])].sort();
    failed.clear();
    let published = 0;
    for (let i = 0; i < ids.length; i += chunkSize) {
      const chunk = ids.slice(i, i + chunkSize);
      try {
        const count = await publishProfileUpdates(chunk, deps);
        deps.metrics?.profilesRepublished.inc({ reason }, count);
        published += count;
      } catch (error) {
        for (const id of ids.slice(i)) failed.add(id);
        deps.metrics?.republishFailures.inc({ reason });
        throw new ProfileRepublishError(
          `republishing profiles failed (${reason}): ${errorMessage(error)}`,
          { reason, published, pending: failed.size },
          { cause: error },
        );
      }
    }
    return published;
  };
}

export function toProfileUpdate(
  snapshot: ProfileSnapshot,
  rfm: RfmRow | null,
  segments: readonly string[],
  updatedAt: number,
  predictions: Predictions | null = null,
): ProfileUpdate {
  return {
    profileId: snapshot.profileId,
    mergedInto: null,
    traits: snapshot.updateTraits?.text ?? snapshot.traits,
    identifiers: snapshot.identifiers,
    rfm: rfm
      ? {
          lastPurchaseAt: rfm.lastPurchaseAt,
          recencyDays: rfm.recencyDays,
          frequency: rfm.frequency,
          monetary: rfm.monetary,
          r: rfm.r,
          f: rfm.f,
          m: rfm.m,
          label: rfm.label,
        }
      : null,
    consent: snapshot.consent,
    segments: [...segments],
    firstSeen: snapshot.firstSeen,
    lastSeen: snapshot.lastSeen,
    updatedAt,
    predictions,
  };
}

export function mergedProfileUpdate(profileId: string, mergedInto: string, updatedAt: number): ProfileUpdate {
  return {
    profileId,
    mergedInto,
    traits: '{}',
    identifiers: [],
    rfm: null,
    consent: {},
    segments: [],
    firstSeen: null,
    lastSeen: null,
    updatedAt,
    predictions: null,
  };
}
