import { eventWith, type Event } from '../../schemas';
import { mulberry32 } from '../../services/cli/demo/demo-population';

/**
 * A synthetic population with known ground truth for the identity stitcher: people with
 * several devices, anonymous sessions later identified, case-variant emails (and full-width
 * ones typed at a Japanese till, or with a zero-width space pasted in), phones in several
 * spellings, store purchases keyed by loyalty id and email, email and SMS clicks,
 * households sharing a tablet (one device id and one anonymous id, two user ids), and a buggy
 * SDK sending placeholder anonymous ids (`undefined`, the zero UUID …) that must be blocked.
 *
 * Every event carries the person it truly belongs to; anonymous events on a shared tablet
 * belong to nobody the rules can know (`person: null`) and are left out of the scores.
 * Deterministic for a seed.
 */
export interface PopulationEvent {
  readonly event: Event;
  readonly person: string | null;
  /** Which input topic it goes to. */
  readonly format: 'avro' | 'json';
}

export function generatePopulation(people: number, seed = 42): PopulationEvent[] {
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const out: PopulationEvent[] = [];
  let clock = Date.UTC(2026, 0, 1);
  let sequence = 0;

  const emit = (
    person: string | null,
    fields: Partial<Event> & Pick<Event, 'type'>,
    context: Record<string, unknown> = {},
    traits: Record<string, unknown> = {},
  ): void => {
    clock += 1_000 + Math.floor(random() * 60_000);
    sequence += 1;
    const event = eventWith({
      messageId: `msg-${seed}-${sequence}`,
      timestamp: clock,
      channel: 'web',
      source: 'population',
      ...fields,
      context: JSON.stringify(context),
      traits: JSON.stringify(traits),
    });
    out.push({ event, person, format: random() < 0.3 ? 'json' : 'avro' });
  };

  const accountHolders: number[] = [];
  const emailVariants = (email: string): string[] => [
    email,
    email.toUpperCase(),
    ` ${email[0]!.toUpperCase()}${email.slice(1)} `,
    email.replace(/^./, (c) => c.toUpperCase()),
    fullWidth(email),
    `\u200b${email}`,
  ];

  for (let i = 0; i < people; i++) {
    const person = `person-${i}`;
    const hasAccount = random() < 0.8;
    if (hasAccount) accountHolders.push(i);
    const userId = `user-${i}`;
    const email = `person${i}.name@mail${i % 7}.example`;
    const hasPhone = random() < 0.4;
    const local = `${200 + (i % 700)}${String(1000 + (i % 9000)).padStart(4, '0')}`;
    const phones = [
      `+1 212 ${local.slice(0, 3)} ${local.slice(3)}`,
      `(212) ${local.slice(0, 3)}-${local.slice(3)}`,
      `212.${local.slice(0, 3)}.${local.slice(3)}`,
      fullWidth(`+1 212-${local.slice(0, 3)}-${local.slice(3)}`),
    ];
    const loyalty = random() < 0.5 ? `L${100000 + i}` : undefined;
    const devices = 1 + Math.floor(random() * 3);

    for (let d = 0; d < devices; d++) {
      const anonymousId = `anon-${i}-${d}-${Math.floor(random() * 1e9).toString(36)}`;
      const device = { id: `dev-${i}-${d}-${Math.floor(random() * 1e9).toString(36)}`, type: d === 0 ? 'ios' : 'web' };
      const channel = d === 0 ? 'mobile' : 'web';
      const sessions = 1 + Math.floor(random() * 3);
      for (let s = 0; s < sessions; s++)
        emit(person, { type: 'page', name: pick(['Home', 'Shoes', 'Sale']), anonymousId, channel }, { device });
      if (hasAccount) {
        const traits =
          d === 0 ? { email: pick(emailVariants(email)), ...(hasPhone ? { phone: pick(phones) } : {}) } : {};
        emit(
          person,
          { type: d === 0 ? 'identify' : 'track', event: d === 0 ? null : 'Signed In', userId, anonymousId, channel },
          { device },
          traits,
        );
        emit(person, { type: 'track', event: 'Product Viewed', userId, anonymousId, channel }, { device });
        // A buggy SDK build: placeholder anonymous ids that would join everyone unless blocked.
        if (random() < 0.1)
          emit(
            person,
            {
              type: 'track',
              event: 'Cart Viewed',
              userId,
              anonymousId: pick(['undefined', 'null', '00000000-0000-0000-0000-000000000000', '0']),
              channel,
            },
            { device: { id: '' } },
          );
      } else {
        // Newsletter sign-up: the anonymous visitor leaves an email.
        emit(
          person,
          { type: 'identify', anonymousId, channel },
          { device },
          { email: pick(emailVariants(email)), ...(hasPhone && d === 0 ? { phone: pick(phones) } : {}) },
        );
      }
    }
    if (loyalty) {
      emit(
        person,
        {
          type: 'track',
          event: 'Order Completed',
          channel: 'store',
          properties: JSON.stringify({ order_id: `o-${i}`, revenue: 42, currency: 'EUR' }),
        },
        {
          externalIds: [{ id: loyalty, type: 'loyalty_id', collection: 'users', encoding: 'none' }],
          traits: { email: pick(emailVariants(email)) },
        },
      );
      emit(
        person,
        {
          type: 'track',
          event: 'Order Completed',
          channel: 'store',
          properties: JSON.stringify({ order_id: `o2-${i}`, revenue: 10, currency: 'EUR' }),
        },
        { externalIds: { loyaltyId: loyalty } },
      );
    }
    emit(
      person,
      { type: 'track', event: 'Email Opened', channel: 'email' },
      { traits: { email: pick(emailVariants(email)) } },
    );
    if (hasPhone)
      emit(person, { type: 'track', event: 'SMS Clicked', channel: 'mobile' }, { traits: { phone: pick(phones) } });
  }

  // Households: two people with accounts share a tablet (same device id, same browser anonymous id).
  for (let h = 0; h + 1 < accountHolders.length; h += 16) {
    const i = accountHolders[h]!;
    const tablet = { id: `tablet-${i}`, type: 'android' };
    const anonymousId = `tablet-anon-${i}`;
    for (const member of [i, accountHolders[h + 1]!]) {
      const person = `person-${member}`;
      emit(null, { type: 'page', name: 'Home', anonymousId }, { device: tablet });
      emit(person, { type: 'track', event: 'Signed In', userId: `user-${member}`, anonymousId }, { device: tablet });
      emit(
        person,
        { type: 'track', event: 'Product Viewed', userId: `user-${member}`, anonymousId },
        { device: tablet },
      );
    }
  }
  return out;
}

/** ASCII letters, digits and punctuation in their full-width forms (U+FF01–U+FF5E), as a Japanese IME types them. */
export function fullWidth(text: string): string {
  return text.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
}

/** Pairwise precision and recall of a clustering against the truth, and the over-merge rate. */
export function pairwiseScores(assignments: readonly { person: string; profile: string }[]): {
  precision: number;
  recall: number;
  overMergeRate: number;
  people: number;
  profiles: number;
  events: number;
} {
  const cells = new Map<string, number>();
  const byPerson = new Map<string, number>();
  const byProfile = new Map<string, Set<string>>();
  const profileSizes = new Map<string, number>();
  for (const { person, profile } of assignments) {
    const cell = `${person}\u0000${profile}`;
    cells.set(cell, (cells.get(cell) ?? 0) + 1);
    byPerson.set(person, (byPerson.get(person) ?? 0) + 1);
    profileSizes.set(profile, (profileSizes.get(profile) ?? 0) + 1);
    let members = byProfile.get(profile);
    if (!members) byProfile.set(profile, (members = new Set()));
    members.add(person);
  }
  const pairs = (n: number): number => (n * (n - 1)) / 2;
  let together = 0;
  for (const n of cells.values()) together += pairs(n);
  let predicted = 0;
  for (const n of profileSizes.values()) predicted += pairs(n);
  let truth = 0;
  for (const n of byPerson.values()) truth += pairs(n);
  const overMerged = [...byProfile.values()].filter((members) => members.size > 1).length;
  return {
    precision: predicted === 0 ? 1 : together / predicted,
    recall: truth === 0 ? 1 : together / truth,
    overMergeRate: byProfile.size === 0 ? 0 : overMerged / byProfile.size,
    people: byPerson.size,
    profiles: byProfile.size,
    events: assignments.length,
  };
}
