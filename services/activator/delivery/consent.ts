import type { ProfileUpdate } from '../../../schemas';

/**
 * Consent at send time, fail-closed: a profile is delivered to a destination only if its latest
 * known consent granted every purpose the destination declares. No record of the profile, no
 * record of a purpose, or `false` all mean no. Checked before every attempt, so a consent
 * withdrawn while a change waits for a retry stops it.
 *
 * `SubjectFilter` is where privacy requests plug in: a person erased or suppressed is withheld
 * from every destination, whatever their consent says (privacy/withheld-people.ts).
 */
export interface SubjectFilter {
  /** Why this profile must not be delivered anywhere, or undefined. */
  withheld(profileId: string): string | undefined;
  /** Resolves once the filter knows every request resolved before the call. */
  current(): Promise<void>;
}

/** Withholds no one (unit tests and benchmarks of delivery alone). */
export const noSubjectFilter: SubjectFilter = { withheld: () => undefined, current: async () => undefined };

export type ConsentVerdict =
  | { readonly deliver: true }
  | {
      readonly deliver: false;
      readonly reason: 'unknown_profile' | 'no_consent' | 'withheld';
      readonly detail: string;
    };

export function consentVerdict(
  profileId: string,
  profile: Pick<ProfileUpdate, 'consent'> | undefined,
  purposes: readonly string[],
  subjects: SubjectFilter = noSubjectFilter,
): ConsentVerdict {
  const withheld = subjects.withheld(profileId);
  if (withheld !== undefined) return { deliver: false, reason: 'withheld', detail: withheld };
  if (profile === undefined) return { deliver: false, reason: 'unknown_profile', detail: 'no profile update known' };
  const missing = purposes.filter((purpose) => profile.consent[purpose] !== true);
  return missing.length === 0
    ? { deliver: true }
    : { deliver: false, reason: 'no_consent', detail: `not granted: ${missing.join(', ')}` };
}
