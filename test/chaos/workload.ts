import { mulberry32 } from '../../services/cli/demo/demo-population';
import { componentsOf } from './identity-components';

/**
 * The chaos run's input, a pure function of the seed: people who browse anonymously on the web
 * and in the app, log in (merging those profiles into their account), change plan and consent,
 * buy on the web and in the app and in stores, have orders refunded and reported twice, and
 * arrive through every door kumiki has — HTTP (the Segment API), direct Avro and JSON producers,
 * and `kumiki import` of store and CRM files.
 *
 * The same seed gives the same actions (messageIds, identifiers, amounts, event times), so the
 * fault-free and the chaos run must end in the same state, whatever the arrival order: every
 * person's identifiers are their own (no identity limit is hit; the graph is the connected
 * components of what events link: identity-components.ts), and event times are distinct.
 *
 * Deliberate repetition: some HTTP batches and JSON events are sent a second time with the same
 * messageIds (a client retry), and some web orders are reported again by the store import under
 * another messageId with the same order_id (counted once).
 */
export type Door = 'http' | 'avro' | 'json' | 'import';

/** One event as the generator made it; the traffic module writes it the way its door takes it. */
export interface Action {
  readonly door: Door;
  readonly messageId: string;
  readonly type: 'identify' | 'track' | 'page' | 'screen';
  readonly event?: string;
  readonly name?: string;
  readonly userId?: string;
  readonly anonymousId?: string;
  readonly deviceId?: string;
  /** Event time, epoch ms; distinct across the workload. */
  readonly timestamp: number;
  readonly properties?: Readonly<Record<string, string | number>>;
  readonly traits?: Readonly<Record<string, string | number>>;
  /** Consent purposes (HTTP: context.consent.categoryPreferences; direct: consent). */
  readonly consent?: Readonly<Record<string, boolean>>;
  /** Store and CRM rows: the identifiers the file carries (receipt or record number as anonymousId). */
  readonly loyaltyId?: string;
  readonly email?: string;
}

/** What a door sends in one go: an HTTP batch, a producer send, an import file. */
export interface Delivery {
  readonly door: Door;
  readonly actions: readonly Action[];
  /** Where in the run it is due, 0 (start) to 1 (end of the traffic window). */
  readonly due: number;
  /** Import files: what they hold (one mapping each). */
  readonly file?: 'store-purchases' | 'crm-contacts';
}

export interface SegmentDefinition {
  readonly name: string;
  readonly rule: unknown;
  readonly purpose?: string;
}

export interface ChaosWorkload {
  readonly seed: number;
  readonly deliveries: readonly Delivery[];
  /** Every distinct messageId the workload sends (a resent one once). */
  readonly messageIds: ReadonlySet<string>;
  /** The identity graph any arrival order must end in: each profile's identifiers, `type:value`, sorted. */
  readonly identityComponents: readonly (readonly string[])[];
  readonly segments: readonly SegmentDefinition[];
}

export interface WorkloadSize {
  readonly people: number;
  /** Event times end this long before `anchor` and span `spanDays`. */
  readonly anchor: number;
  readonly spanDays?: number;
}

/** The segments both runs define before their traffic: membership changes all through the run. */
export const chaosSegments: readonly SegmentDefinition[] = [
  {
    name: 'big spenders',
    rule: {
      performed: { event: 'Order Completed' },
      within: { days: 365 },
      sum: { field: 'revenue', op: 'gte', value: 300 },
    },
  },
  { name: 'pro plan', rule: { trait: 'plan', op: 'eq', value: 'pro' } },
  { name: 'repeat buyers', rule: { rfm: 'frequency', op: 'gte', value: 3 } },
  { name: 'engaged', purpose: 'marketing', rule: { performed: { type: 'page' }, count: { op: 'gte', value: 8 } } },
  {
    name: 'app and store',
    rule: { and: [{ performed: { channel: 'mobile' } }, { performed: { channel: 'import' } }] },
  },
];

const DAY_MS = 86_400_000;
const batchSizes: Readonly<Record<Exclude<Door, 'import'>, number>> = { http: 25, avro: 50, json: 40 };
/** Store and CRM files per run: each holds the rows of its stretch of the run. */
const importFilesPerKind = 12;

interface Timed {
  readonly at: number;
  readonly person: number;
  /** The action at its event time; a resend instead repeats `resends` as it was built. */
  readonly build?: (timestamp: number) => Action;
  readonly resends?: Timed;
}

export function generateWorkload(seed: number, size: WorkloadSize): ChaosWorkload {
  const random = mulberry32(seed);
  const chance = (p: number): boolean => random() < p;
  const between = (low: number, high: number): number => low + Math.floor(random() * (high - low + 1));
  const tag = `s${seed}`;
  const timeline: Timed[] = [];

  for (let p = 0; p < size.people; p++) {
    const kind = pickKind(random());
    const start = random() * 0.8;
    const span = 0.1 + random() * (1 - start - 0.1);
    const events = between(20, 80);
    const userId = `u-${tag}-${p}`;
    const email = `p${p}.${tag}@example.com`;
    const loyaltyId = kind === 'web-store' || kind === 'store' ? `L-${tag}-${p}` : undefined;
    const devices = kind === 'store' ? 0 : between(1, 3);
    const anonymous = Array.from({ length: devices }, (_, d) => `a-${tag}-${p}-${d}`);
    const device = Array.from({ length: devices }, (_, d) => `d-${tag}-${p}-${d}`);
    let orders = 0;
    let plan = 'basic';
    let marketing = chance(0.6);
    const loggedIn = new Set<number>();
    for (let k = 0; k < events; k++) {
      const at = start + (span * k) / events;
      const id = `m-${tag}-${p}-${k}`;
      const push = (build: (timestamp: number) => Action, when = at): Timed => {
        const timed = { at: when, person: p, build };
        timeline.push(timed);
        return timed;
      };
      /** A later event of this person, after `at` and before the end of the run. */
      const later = (): number => Math.min(0.999, at + 0.01 + random() * 0.1);
      const refund = (orderId: string, amount: number): void => {
        const partial = chance(0.6);
        const refunded = Math.round(amount * (0.2 + random() * 0.5) * 100) / 100;
        push(
          (timestamp) => ({
            door: 'json',
            messageId: `${id}-refund`,
            type: 'track',
            event: 'Order Refunded',
            userId,
            properties: partial
              ? { order_id: orderId, revenue: refunded, currency: 'USD' }
              : ({ order_id: orderId } as Record<string, string>),
            timestamp,
          }),
          later(),
        );
      };
      const roll = random();
      const d = devices > 0 ? between(0, devices - 1) : 0;
      if (kind === 'anonymous') {
        // App users who never log in: screens and pages on their devices, nothing else.
        push((timestamp) => ({
          door: 'avro',
          messageId: id,
          type: roll < 0.5 ? 'screen' : 'page',
          name: `Screen ${k % 7}`,
          anonymousId: anonymous[d]!,
          deviceId: device[d]!,
          timestamp,
        }));
        continue;
      }
      if (kind === 'store') {
        // Store-only customers: purchases at the till and a CRM record, all through imports.
        if (k === 0 || roll < 0.15) {
          push((timestamp) => ({
            door: 'import',
            messageId: id,
            anonymousId: `receipt-${id}`,
            type: 'identify',
            loyaltyId: loyaltyId!,
            email,
            traits: { first_name: `Name${p}` },
            timestamp,
          }));
          continue;
        }
        push(storePurchase(id, loyaltyId!, email, `o-${tag}-${p}-${orders++}`, storeAmount(random)));
        continue;
      }
      if (kind === 'back-office') {
        // Accounts served by a sales team: server-side events on the JSON topic, keyed by userId.
        if (k === 0 || roll < 0.1) {
          const planNow = k === 0 ? 'basic' : 'pro';
          push((timestamp) => ({
            door: 'json',
            messageId: id,
            type: 'identify',
            userId,
            traits: { email, plan: planNow, company: `Company ${p % 13}` },
            timestamp,
          }));
          continue;
        }
        const orderId = `o-${tag}-${p}-${orders++}`;
        const amount = (between(50, 900) * 100 + between(0, 99)) / 100;
        const currency = chance(0.2) ? 'EUR' : 'USD';
        const order = push((timestamp) => ({
          door: 'json',
          messageId: id,
          type: 'track',
          event: 'Order Completed',
          userId,
          properties: { order_id: orderId, revenue: amount, currency },
          timestamp,
        }));
        if (chance(0.25)) refund(orderId, amount);
        // A producer that sends an event again (same messageId) after a timeout.
        if (chance(0.08)) timeline.push({ at: later(), person: p, resends: order });
        continue;
      }
      // Web (and web + store) people: anonymous visits, login, pages, orders, plan and consent changes.
      const anon = anonymous[d]!;
      if (!loggedIn.has(d) && (k > 2 || roll < 0.3)) {
        loggedIn.add(d);
        const [planNow, consentNow] = [plan, marketing];
        push((timestamp) => ({
          door: 'http',
          messageId: id,
          type: 'identify',
          userId,
          anonymousId: anon,
          deviceId: device[d]!,
          traits: { email, plan: planNow, first_name: `Name${p}` },
          consent: { marketing: consentNow },
          timestamp,
        }));
        continue;
      }
      const known = loggedIn.has(d) ? userId : undefined;
      if (known && roll < 0.06) {
        plan = plan === 'basic' ? 'pro' : chance(0.3) ? 'basic' : 'pro';
        if (chance(0.3)) marketing = !marketing;
        const [planNow, consentNow] = [plan, marketing];
        push((timestamp) => ({
          door: 'http',
          messageId: id,
          type: 'identify',
          userId,
          traits: { plan: planNow },
          consent: { marketing: consentNow },
          timestamp,
        }));
        continue;
      }
      if (known && roll < 0.22) {
        const orderId = `o-${tag}-${p}-${orders++}`;
        const amount = (between(5, 250) * 100 + between(0, 99)) / 100;
        const inApp = chance(0.35);
        const category = categories[k % categories.length]!;
        push((timestamp) => ({
          door: inApp ? 'avro' : 'http',
          messageId: id,
          type: 'track',
          event: 'Order Completed',
          userId,
          anonymousId: anon,
          ...(inApp ? { deviceId: device[d]! } : {}),
          properties: { order_id: orderId, revenue: amount, currency: 'USD', category },
          timestamp,
        }));
        if (chance(0.15)) refund(orderId, amount);
        if (loyaltyId && chance(0.3)) {
          // Collected in store: the till reports the web order again (same order_id, its own messageId).
          push(storePurchase(`${id}-store`, loyaltyId, email, orderId, amount), later());
        }
        continue;
      }
      if (loyaltyId && roll < 0.3) {
        push(storePurchase(id, loyaltyId, email, `o-${tag}-${p}-${orders++}`, storeAmount(random)));
        continue;
      }
      const inApp = chance(0.4);
      const screen = inApp && chance(0.5);
      push((timestamp) => ({
        door: inApp ? 'avro' : 'http',
        messageId: id,
        type: screen ? 'screen' : 'page',
        name: `Page ${k % 9}`,
        ...(known ? { userId: known } : {}),
        anonymousId: anon,
        ...(inApp ? { deviceId: device[d]! } : {}),
        properties: { path: `/p/${k % 9}` },
        timestamp,
      }));
    }
  }

  timeline.sort((a, b) => a.at - b.at || a.person - b.person);
  // Event times follow the timeline, one distinct millisecond value each (ties would make
  // "latest trait" and "earliest order report" depend on arrival order).
  const spanMs = (size.spanDays ?? 300) * DAY_MS;
  const first = size.anchor - DAY_MS - spanMs;
  const step = Math.max(1, Math.floor(spanMs / Math.max(1, timeline.length)));
  const built = new Map<Timed, Action>();
  const actions: Array<{ action: Action; at: number }> = [];
  timeline.forEach((timed, position) => {
    const action = timed.resends ? built.get(timed.resends)! : timed.build!(first + position * step);
    built.set(timed, action);
    actions.push({ action, at: timed.at });
  });

  const deliveries = toDeliveries(actions);
  // Some HTTP batches go twice (an SDK that retried after a lost answer), later in the run.
  const resent = deliveries
    .filter((delivery) => delivery.door === 'http' && chance(0.04))
    .map((delivery) => ({ ...delivery, due: Math.min(1, delivery.due + 0.05) }));
  return {
    seed,
    deliveries: [...deliveries, ...resent].sort((a, b) => a.due - b.due),
    messageIds: new Set(actions.map(({ action }) => action.messageId)),
    identityComponents: componentsOf(actions.map(({ action }) => action)),
    segments: chaosSegments,
  };
}

const categories = ['shoes', 'bags', 'books', 'garden'];

type PersonKind = 'web' | 'web-store' | 'anonymous' | 'store' | 'back-office';

function pickKind(roll: number): PersonKind {
  if (roll < 0.45) return 'web';
  if (roll < 0.65) return 'web-store';
  if (roll < 0.8) return 'anonymous';
  if (roll < 0.92) return 'store';
  return 'back-office';
}

/** A purchase at the till, as the store system exports it (the receipt number is its anonymousId). */
function storePurchase(
  messageId: string,
  loyaltyId: string,
  email: string,
  orderId: string,
  amount: number,
): (timestamp: number) => Action {
  return (timestamp) => ({
    door: 'import',
    messageId,
    anonymousId: `receipt-${messageId}`,
    type: 'track',
    event: 'Order Completed',
    loyaltyId,
    email,
    properties: { order_id: orderId, revenue: amount, currency: 'USD' },
    timestamp,
  });
}

function storeAmount(random: () => number): number {
  return Math.round((10 + random() * 400) * 100) / 100;
}

/** Batches per door in action order; import rows are gathered into files, one per stretch of the run. */
function toDeliveries(actions: readonly { action: Action; at: number }[]): Delivery[] {
  const deliveries: Delivery[] = [];
  const open = new Map<string, { door: Door; file?: Delivery['file']; actions: Action[]; due: number }>();
  const close = (key: string): void => {
    const batch = open.get(key);
    if (!batch) return;
    open.delete(key);
    deliveries.push({
      door: batch.door,
      actions: batch.actions,
      due: batch.due,
      ...(batch.file ? { file: batch.file } : {}),
    });
  };
  for (const { action, at } of actions) {
    if (action.door === 'import') {
      const file: Delivery['file'] = action.type === 'identify' ? 'crm-contacts' : 'store-purchases';
      const stretch = Math.min(importFilesPerKind - 1, Math.floor(at * importFilesPerKind));
      const key = `import:${file}:${stretch}`;
      if (!open.has(key)) {
        for (const other of [...open.keys()]) if (other.startsWith(`import:${file}:`)) close(other);
        open.set(key, { door: 'import', file, actions: [], due: (stretch + 1) / importFilesPerKind });
      }
      open.get(key)!.actions.push(action);
      continue;
    }
    const batch = open.get(action.door) ?? { door: action.door, actions: [], due: at };
    open.set(action.door, batch);
    batch.actions.push(action);
    batch.due = at;
    if (batch.actions.length >= batchSizes[action.door]) close(action.door);
  }
  for (const key of [...open.keys()]) close(key);
  return deliveries.sort((a, b) => a.due - b.due);
}
