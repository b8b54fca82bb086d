import type { ProfileUpdate, SegmentChange } from '../../../schemas';

/**
 * The bodies destinations receive, in the Standard Webhooks shape `{ type, timestamp, data }`.
 * A payload carries only what its destination may see: the identifier types and trait keys
 * the destination lists (nothing personal by default), the profile id (a pseudonymous id) and
 * the segment. Documented in docs/activation.md.
 */
export interface WebhookPayload<D = Record<string, unknown>> {
  readonly type: string;
  /** When the change happened (ISO-8601): the segment evaluation, or the profile update. */
  readonly timestamp: string;
  readonly data: D;
}

export interface PayloadScope {
  readonly identifiers: readonly string[];
  readonly traits: readonly string[];
}

export function segmentChangePayload(
  change: SegmentChange,
  profile: ProfileUpdate,
  scope: PayloadScope,
): WebhookPayload {
  return {
    type: change.change === 'entered' ? 'segment.entered' : 'segment.exited',
    timestamp: new Date(change.at).toISOString(),
    data: {
      segment: { id: change.segmentId, name: change.segmentName },
      profileId: change.profileId,
      identifiers: identifiersOf(profile, scope.identifiers),
      traits: traitsOf(profile, scope.traits),
    },
  };
}

export function profileUpdatedPayload(update: ProfileUpdate, scope: PayloadScope): WebhookPayload {
  return {
    type: 'profile.updated',
    timestamp: new Date(update.updatedAt).toISOString(),
    data: {
      profileId: update.profileId,
      ...(update.mergedInto === null ? {} : { mergedInto: update.mergedInto }),
      identifiers: identifiersOf(update, scope.identifiers),
      traits: traitsOf(update, scope.traits),
      segments: update.segments,
      rfm: update.rfm && {
        recencyDays: update.rfm.recencyDays,
        frequency: update.rfm.frequency,
        monetary: update.rfm.monetary,
        r: update.rfm.r,
        f: update.rfm.f,
        m: update.rfm.m,
        label: update.rfm.label,
      },
    },
  };
}

/**
 * The notice a destination gets when a person it received is erased (privacy requests): the
 * profile id and the identifiers of the types the destination takes, so the tool can delete its
 * own copy. Sent by privacy/deletion-notices.ts.
 */
export function deletionNoticePayload(
  profileId: string,
  identifiers: Readonly<Record<string, readonly string[]>>,
  at: number,
): WebhookPayload {
  return { type: 'profile.deleted', timestamp: new Date(at).toISOString(), data: { profileId, identifiers } };
}

/** The profile's identifiers of the allowed types, by type (values as the stitcher normalised them). */
export function identifiersOf(
  profile: Pick<ProfileUpdate, 'identifiers'>,
  types: readonly string[],
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (types.length === 0) return out;
  for (const { type, value } of profile.identifiers) {
    if (!types.includes(type)) continue;
    (out[type] ??= []).push(value);
  }
  return out;
}

/** The asked-for traits the profile has (absent ones are left out). */
export function traitsOf(profile: Pick<ProfileUpdate, 'traits'>, keys: readonly string[]): Record<string, unknown> {
  if (keys.length === 0) return {};
  let traits: Record<string, unknown>;
  try {
    traits = JSON.parse(profile.traits) as Record<string, unknown>;
  } catch {
    return {};
  }
  // Entries, not assignments: a trait named `__proto__` is sent like any other.
  return Object.fromEntries(keys.filter((key) => Object.hasOwn(traits, key)).map((key) => [key, traits[key]]));
}
