/**
 * The seeds' three journeys of a shoe retailer, as data: the segments that start them, the
 * people whose events put them there, and the mail a mail tool would send for each. Pure, so
 * `kumiki demo --journeys` (journeys.command.ts) and its unit test share it.
 */
export interface Journey {
  readonly segment: string;
  readonly rule: unknown;
  readonly subject: (firstName: string) => string;
}

export const journeys: readonly Journey[] = [
  {
    segment: 'Repurchase day 4',
    rule: {
      and: [
        { performed: { event: 'Order Completed' }, within: { days: 14 } },
        { lastPerformed: { event: 'Order Completed' }, op: 'eq', value: { days: 4 } },
      ],
    },
    subject: (name) => `${name}, how are the new shoes? Care tips and a matching pair inside`,
  },
  {
    segment: 'Cart abandoned 1 day',
    rule: {
      performed: { event: 'Product Added' },
      notFollowedBy: { event: 'Order Completed' },
      within: { days: 1 },
      lookback: { days: 7 },
    },
    subject: (name) => `${name}, your shoes are still in your cart`,
  },
  {
    segment: 'Birthday this month',
    rule: { trait: 'birthday', part: 'month', op: 'eq', value: 'now' },
    subject: (name) => `Happy birthday, ${name}! 15 % off all month`,
  },
];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface JourneyPerson {
  readonly userId: string;
  readonly email: string;
  readonly firstName: string;
  /** Whether they granted `marketing` (the segments' and the destination's purpose). */
  readonly marketing: boolean;
  readonly journey: string | null;
}

/**
 * Segment-spec messages for a small cast, as of `now`: for each journey two people who qualify
 * (consent given) and one who qualifies but refused marketing, who must get no mail; and one
 * person who qualifies for none.
 */
export function journeyTraffic(now: number, runTag: string): { people: JourneyPerson[]; batch: object[] } {
  const people: JourneyPerson[] = [];
  const batch: object[] = [];
  const month = String(new Date(now).getUTCMonth() + 1).padStart(2, '0');
  const otherMonth = String(((new Date(now).getUTCMonth() + 6) % 12) + 1).padStart(2, '0');
  const names = ['Aiko', 'Ben', 'Chiara', 'Daniel', 'Emi', 'Farid', 'Grete', 'Hugo', 'Ines', 'Jonas'];
  let n = 0;
  const person = (journey: string | null, marketing: boolean): JourneyPerson => {
    const firstName = names[n % names.length]!;
    n += 1;
    const made = {
      userId: `journey-${runTag}-${n}`,
      email: `${firstName.toLowerCase()}.${runTag}.${n}@example.com`,
      firstName,
      marketing,
      journey,
    };
    people.push(made);
    return made;
  };
  const at = (ms: number): string => new Date(now - ms).toISOString();
  const identify = (p: JourneyPerson, birthdayMonth: string): object => ({
    type: 'identify',
    userId: p.userId,
    timestamp: at(20 * DAY),
    traits: { email: p.email, first_name: p.firstName, birthday: `1990-${birthdayMonth}-15` },
    context: { consent: { categoryPreferences: { marketing: p.marketing } } },
  });
  const track = (p: JourneyPerson, event: string, ago: number, properties: object = {}): object => ({
    type: 'track',
    userId: p.userId,
    event,
    timestamp: at(ago),
    properties,
  });
  for (const [journey, marketing] of [
    ['Repurchase day 4', true],
    ['Repurchase day 4', true],
    ['Repurchase day 4', false],
  ] as const) {
    const p = person(journey, marketing);
    batch.push(identify(p, otherMonth));
    batch.push(
      track(p, 'Order Completed', 4 * DAY + 3 * HOUR, { order_id: `${p.userId}-o1`, revenue: 89.9, currency: 'EUR' }),
    );
  }
  for (const [journey, marketing] of [
    ['Cart abandoned 1 day', true],
    ['Cart abandoned 1 day', true],
    ['Cart abandoned 1 day', false],
  ] as const) {
    const p = person(journey, marketing);
    batch.push(identify(p, otherMonth));
    batch.push(track(p, 'Product Added', DAY + 2 * HOUR, { product_id: 'trail-runner-42', price: 119 }));
  }
  for (const [journey, marketing] of [
    ['Birthday this month', true],
    ['Birthday this month', true],
    ['Birthday this month', false],
  ] as const) {
    const p = person(journey, marketing);
    batch.push(identify(p, month));
  }
  const bystander = person(null, true);
  batch.push(identify(bystander, otherMonth));
  batch.push(track(bystander, 'Page Viewed', 2 * HOUR));
  return { people, batch };
}

/** What the receiver prints for one segment.entered: the mail a mail tool would send. */
export function mailFor(payload: {
  data: { segment?: { name?: string }; identifiers?: { email?: string[] }; traits?: { first_name?: string } };
}): { to: string; subject: string } | undefined {
  const journey = journeys.find((j) => j.segment === payload.data.segment?.name);
  const to = payload.data.identifiers?.email?.[0];
  if (!journey || !to) return undefined;
  return { to, subject: journey.subject(payload.data.traits?.first_name ?? 'there') };
}

export { DAY, HOUR };
