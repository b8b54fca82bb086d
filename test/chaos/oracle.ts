import { isDeepStrictEqual } from 'node:util';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import pino from 'pino';
import type { ProfileUpdate, SegmentChange } from '../../schemas';
import { createKafkaClient } from '../../services/common/kafka/client';
import { uniqueName } from '../support/stack-env';
import type { PipelineUnderTest } from './pipeline-under-test';

/**
 * What a run ended in, and the checks on it.
 *
 * Profile ids depend on which event of a person arrived first, which faults change, so runs are
 * compared by profile *content*: a profile is known by its smallest identifier (`type:value`),
 * and the two runs must hold the same profiles with the same identifiers, the same traits,
 * consent, first and last event, orders and revenue (RFM as of one shared instant), event counts
 * and segment memberships.
 */
export interface ProfileFacts {
  readonly identifiers: readonly string[];
  readonly traits: unknown;
  readonly consent: unknown;
  readonly firstSeen: number | null;
  readonly lastSeen: number | null;
  readonly events: number;
  readonly orders: number;
  readonly refunds: number;
  readonly rfm: Readonly<Record<string, unknown>> | null;
  /** Names of the segments it is a member of, sorted. */
  readonly segments: readonly string[];
}

export interface RunState {
  /** Rows per messageId in the `events` view. */
  readonly events: ReadonlyMap<string, number>;
  /** By the profile's smallest identifier. */
  readonly profiles: ReadonlyMap<string, ProfileFacts>;
  /** Profile id → its smallest identifier. */
  readonly keyOf: ReadonlyMap<string, string>;
  /** Segment name → id in this run. */
  readonly segmentIds: ReadonlyMap<string, string>;
}

/** Reads a drained run's state through the read API; RFM is computed as of `asOf` (epoch ms), the same instant for both runs. */
export async function readRunState(pipeline: PipelineUnderTest, asOf: number): Promise<RunState> {
  const at = `fromUnixTimestamp64Milli(toInt64(${Math.trunc(asOf)}), 'UTC')`;
  const [eventRows, identityRows, profileRows, activity, rfmRows, memberRows, segmentRows] = await Promise.all([
    pipeline.sql<{ message_id: string; n: string }>(
      'SELECT message_id, toString(count()) AS n FROM events GROUP BY message_id',
    ),
    pipeline.sql<{ profile_id: string; ids: string[] }>(
      "SELECT profile_id, arraySort(groupArray(concat(identifier_type, ':', identifier_value))) AS ids FROM identities GROUP BY profile_id",
    ),
    pipeline.sql<{ profile_id: string; traits: string; consent: Record<string, boolean>; first: string; last: string }>(
      'SELECT profile_id, traits, consent, toString(toUnixTimestamp64Milli(first_seen)) AS first, toString(toUnixTimestamp64Milli(last_seen)) AS last FROM profiles',
    ),
    pipeline.sql<{ profile_id: string; events: string; orders: string; refunds: string }>(
      `SELECT profile_id, toString(count()) AS events,
              toString(uniqExactIf(order_id, event = 'Order Completed')) AS orders,
              toString(countIf(event = 'Order Refunded')) AS refunds
       FROM events GROUP BY profile_id`,
    ),
    pipeline.sql<Record<string, string> & { profile_id: string }>(
      `SELECT profile_id, toString(toUnixTimestamp64Milli(last_purchase_at)) AS last_purchase_at, toString(recency_days) AS recency_days,
              toString(frequency) AS frequency, toString(monetary) AS monetary, toString(r_score) AS r, toString(f_score) AS f,
              toString(m_score) AS m, label
       FROM rfm_as_of(as_of = ${at})`,
    ),
    pipeline.sql<{ segment_id: string; profile_id: string }>('SELECT segment_id, profile_id FROM segment_members'),
    pipeline.sql<{ segment_id: string; name: string }>('SELECT segment_id, name FROM segments'),
  ]);
  const keyOf = new Map(identityRows.map((row) => [row.profile_id, row.ids[0]!]));
  const segmentName = new Map(segmentRows.map((row) => [row.segment_id, row.name]));
  const byProfile = <T>(rows: readonly (T & { profile_id: string })[]): Map<string, T> =>
    new Map(rows.map((row) => [row.profile_id, row]));
  const profile = byProfile(profileRows);
  const counts = byProfile(activity);
  const rfm = byProfile(rfmRows);
  const segmentsOf = new Map<string, string[]>();
  for (const row of memberRows) {
    const list = segmentsOf.get(row.profile_id) ?? [];
    list.push(segmentName.get(row.segment_id) ?? `?${row.segment_id}`);
    segmentsOf.set(row.profile_id, list);
  }
  const profiles = new Map<string, ProfileFacts>();
  for (const { profile_id: id, ids } of identityRows) {
    const p = profile.get(id);
    const c = counts.get(id);
    const { profile_id: _, ...figures } = rfm.get(id) ?? { profile_id: id };
    profiles.set(ids[0]!, {
      identifiers: ids,
      traits: p ? JSON.parse(p.traits) : undefined,
      consent: p?.consent,
      firstSeen: p ? Number(p.first) : null,
      lastSeen: p ? Number(p.last) : null,
      events: Number(c?.events ?? 0),
      orders: Number(c?.orders ?? 0),
      refunds: Number(c?.refunds ?? 0),
      rfm: Object.keys(figures).length > 0 ? figures : null,
      segments: (segmentsOf.get(id) ?? []).sort(),
    });
  }
  // A profile with events or members but no identifier would be invisible above: name it.
  for (const id of [...counts.keys(), ...segmentsOf.keys()])
    if (!keyOf.has(id)) profiles.set(`?${id}`, { ...emptyFacts, events: Number(counts.get(id)?.events ?? 0) });
  return {
    events: new Map(eventRows.map((row) => [row.message_id, Number(row.n)])),
    profiles,
    keyOf,
    segmentIds: new Map(segmentRows.map((row) => [row.name, row.segment_id])),
  };
}

const emptyFacts: ProfileFacts = {
  identifiers: [],
  traits: undefined,
  consent: undefined,
  firstSeen: null,
  lastSeen: null,
  events: 0,
  orders: 0,
  refunds: 0,
  rfm: null,
  segments: [],
};

export interface EventCount {
  readonly lost: number;
  readonly duplicated: number;
  /** In `events` without having been acknowledged (sent, never answered, not retried: should not happen here). */
  readonly unacknowledged: number;
}

/** Every acknowledged messageId exactly once in `events`. */
export function countEvents(state: RunState, acknowledged: ReadonlySet<string>): EventCount {
  let lost = 0;
  for (const id of acknowledged) if (!state.events.has(id)) lost += 1;
  let duplicated = 0;
  let unacknowledged = 0;
  for (const [id, rows] of state.events) {
    duplicated += rows - 1;
    if (!acknowledged.has(id)) unacknowledged += 1;
  }
  return { lost, duplicated, unacknowledged };
}

/** Differences between two runs' profiles, at most `limit` described. */
export function compareProfiles(
  reference: RunState,
  chaos: RunState,
  limit = 20,
): { readonly differing: number; readonly described: string[] } {
  const described: string[] = [];
  let differing = 0;
  const keys = new Set([...reference.profiles.keys(), ...chaos.profiles.keys()]);
  for (const key of [...keys].sort()) {
    const expected = reference.profiles.get(key);
    const actual = chaos.profiles.get(key);
    if (isDeepStrictEqual(expected, actual)) continue;
    differing += 1;
    if (described.length >= limit) continue;
    if (!expected || !actual) {
      described.push(
        `${key}: only in the ${expected ? 'fault-free' : 'chaos'} run: ${JSON.stringify(expected ?? actual)}`,
      );
      continue;
    }
    const fields = (Object.keys(expected) as (keyof ProfileFacts)[]).filter(
      (field) => !isDeepStrictEqual(expected[field], actual[field]),
    );
    described.push(
      `${key}: ${fields.map((f) => `${f} ${JSON.stringify(actual[f])} (fault-free: ${JSON.stringify(expected[f])})`).join('; ')}`,
    );
  }
  return { differing, described };
}

/** The identity graph is what the input links, whatever the order: the reference must be exactly that. */
export function compareWithComponents(state: RunState, components: readonly (readonly string[])[]): string[] {
  const actual = new Map([...state.profiles.values()].map((p) => [p.identifiers[0] ?? '', p.identifiers]));
  const problems: string[] = [];
  for (const component of components) {
    const found = actual.get(component[0]!);
    if (!isDeepStrictEqual(found, component))
      problems.push(`profile of ${component[0]}: ${JSON.stringify(found)}, input links ${JSON.stringify(component)}`);
  }
  if (actual.size !== components.length) problems.push(`${actual.size} profiles, input links ${components.length}`);
  return problems;
}

/** Decoded values of a topic, read committed, to its end. */
export async function readTopic<T>(
  brokers: string,
  registryUrl: string,
  topic: string,
): Promise<Array<{ key: string; value: T | null; partition: number; offset: string }>> {
  const registry = new SchemaRegistry({ host: registryUrl });
  const reader = createKafkaClient({
    brokers: brokers.split(','),
    clientId: uniqueName('chaos-oracle'),
    logger: pino({ level: 'silent' }),
  });
  const out: Array<{ key: string; value: T | null; partition: number; offset: string }> = [];
  await reader.readToEnd({
    topic,
    groupIdPrefix: uniqueName('chaos-oracle'),
    onBatch: async (messages) => {
      for (const message of messages)
        out.push({
          key: message.key?.toString() ?? '',
          value: message.value ? ((await registry.decode(message.value)) as T) : null,
          partition: message.partition,
          offset: message.offset,
        });
    },
  });
  return out;
}

export interface SegmentChangesCheck {
  readonly changes: number;
  /** A change equal to the one before it for the same (segment, profile): published twice. */
  readonly repeated: number;
  /** Members the topic's changes add up to that segment_members does not have, or the other way round. */
  readonly stateMismatches: readonly string[];
}

/** Every membership change once: per (segment, profile) the changes alternate, starting with an entry, and add up to segment_members. */
export function checkSegmentChanges(
  changes: readonly SegmentChange[],
  members: ReadonlyMap<string, ReadonlySet<string>>,
): SegmentChangesCheck {
  const last = new Map<string, string>();
  let repeated = 0;
  for (const change of changes) {
    const key = `${change.segmentId}|${change.profileId}`;
    const before = last.get(key) ?? 'exited';
    if (before === change.change) repeated += 1;
    last.set(key, change.change);
  }
  // Merged-away profiles exit every segment on the topic (segment-evaluator.ts), so none is left entered.
  const fromTopic = new Set([...last].filter(([, change]) => change === 'entered').map(([key]) => key));
  const fromState = new Set([...members].flatMap(([segment, ids]) => [...ids].map((id) => `${segment}|${id}`)));
  const stateMismatches = [
    ...[...fromTopic]
      .filter((key) => !fromState.has(key))
      .map((key) => `${key} entered on the topic, not in segment_members`),
    ...[...fromState]
      .filter((key) => !fromTopic.has(key))
      .map((key) => `${key} in segment_members, not entered on the topic`),
  ];
  return { changes: changes.length, repeated, stateMismatches };
}

/** segment id → current member profile ids, from segment_members. */
export async function readMembers(pipeline: PipelineUnderTest): Promise<Map<string, Set<string>>> {
  const rows = await pipeline.sql<{ segment_id: string; profile_id: string }>(
    'SELECT segment_id, profile_id FROM segment_members',
  );
  const members = new Map<string, Set<string>>();
  for (const row of rows) {
    const set = members.get(row.segment_id) ?? new Set<string>();
    set.add(row.profile_id);
    members.set(row.segment_id, set);
  }
  return members;
}

/**
 * Each segment's members are what its query answers now: evaluation has caught up with the data.
 * Returns the segments that still differ.
 */
export async function segmentsBehind(pipeline: PipelineUnderTest): Promise<string[]> {
  const segments = await pipeline.sql<{ segment_id: string; name: string; sql: string; params: string }>(
    'SELECT segment_id, name, sql, params FROM segments',
  );
  const members = await readMembers(pipeline);
  const behind: string[] = [];
  for (const segment of segments) {
    const rows = await pipeline.sql<{ profile_id: string }>(segment.sql, {
      ...(JSON.parse(segment.params) as Record<string, unknown>),
      now: new Date().toISOString().replace('T', ' ').replace('Z', ''),
    });
    const expected = new Set(rows.map((row) => row.profile_id));
    const actual = members.get(segment.segment_id) ?? new Set<string>();
    if (!isDeepStrictEqual(expected, actual))
      behind.push(`${segment.name}: ${actual.size} members, its query answers ${expected.size}`);
  }
  return behind;
}

/** The last ProfileUpdate of every key agrees with ClickHouse; returns the disagreements (at most `limit` described). */
export async function checkProfileUpdates(
  pipeline: PipelineUnderTest,
  updates: readonly { key: string; value: ProfileUpdate | null }[],
  limit = 20,
): Promise<{ readonly keys: number; readonly mismatched: number; readonly described: string[] }> {
  const last = new Map<string, ProfileUpdate | null>();
  for (const update of updates) last.set(update.key, update.value);
  const [profiles, identities, rfm, members, aliases] = await Promise.all([
    pipeline.sql<{ profile_id: string; traits: string; consent: Record<string, boolean>; first: string; last: string }>(
      'SELECT profile_id, traits, consent, toString(toUnixTimestamp64Milli(first_seen)) AS first, toString(toUnixTimestamp64Milli(last_seen)) AS last FROM profiles',
    ),
    pipeline.sql<{ profile_id: string; ids: string[] }>(
      "SELECT profile_id, arraySort(groupArray(concat(identifier_type, ':', identifier_value))) AS ids FROM identities GROUP BY profile_id",
    ),
    pipeline.sql<Record<string, string>>(
      `SELECT profile_id, toString(toUnixTimestamp64Milli(last_purchase_at)) AS lastPurchaseAt, toString(frequency) AS frequency,
              toString(monetary) AS monetary, toString(r_score) AS r, toString(f_score) AS f, toString(m_score) AS m, label
       FROM rfm`,
    ),
    pipeline.sql<{ profile_id: string; segments: string[] }>(
      'SELECT profile_id, arraySort(groupArray(segment_id)) AS segments FROM segment_members GROUP BY profile_id',
    ),
    pipeline.sql<{ absorbed: string; survivor: string }>(
      'SELECT absorbed_profile_id AS absorbed, surviving_profile_id AS survivor FROM profile_aliases',
    ),
  ]);
  const idsOf = new Map(identities.map((row) => [row.profile_id, row.ids]));
  const rfmOf = new Map(rfm.map((row) => [row.profile_id, row]));
  const segmentsOf = new Map(members.map((row) => [row.profile_id, row.segments]));
  const survivorOf = new Map(aliases.map((row) => [row.absorbed, row.survivor]));
  const described: string[] = [];
  let mismatched = 0;
  const differ = (id: string, what: string): void => {
    mismatched += 1;
    if (described.length < limit) described.push(`${id}: ${what}`);
  };
  for (const row of profiles) {
    const update = last.get(row.profile_id);
    if (!update) {
      differ(row.profile_id, update === null ? 'last update is a tombstone' : 'no ProfileUpdate');
      continue;
    }
    const r = rfmOf.get(row.profile_id);
    const expected = {
      mergedInto: null,
      traits: JSON.parse(row.traits),
      identifiers: idsOf.get(row.profile_id) ?? [],
      consent: row.consent,
      segments: segmentsOf.get(row.profile_id) ?? [],
      firstSeen: Number(row.first),
      lastSeen: Number(row.last),
      rfm: r
        ? {
            lastPurchaseAt: Number(r.lastPurchaseAt),
            frequency: Number(r.frequency),
            monetary: Number(r.monetary),
            r: Number(r.r),
            f: Number(r.f),
            m: Number(r.m),
            label: r.label,
          }
        : null,
    };
    const actual = {
      mergedInto: update.mergedInto,
      traits: JSON.parse(update.traits),
      identifiers: update.identifiers.map((i) => `${i.type}:${i.value}`).sort(),
      consent: update.consent,
      segments: [...update.segments].sort(),
      firstSeen: update.firstSeen,
      lastSeen: update.lastSeen,
      rfm: update.rfm
        ? {
            lastPurchaseAt: Number(update.rfm.lastPurchaseAt),
            frequency: update.rfm.frequency,
            monetary: update.rfm.monetary,
            r: update.rfm.r,
            f: update.rfm.f,
            m: update.rfm.m,
            label: update.rfm.label,
          }
        : null,
    };
    const fields = (Object.keys(expected) as (keyof typeof expected)[]).filter(
      (field) => !isDeepStrictEqual(expected[field], actual[field]),
    );
    if (fields.length > 0)
      differ(
        row.profile_id,
        fields.map((f) => `${f} ${JSON.stringify(actual[f])} (ClickHouse: ${JSON.stringify(expected[f])})`).join('; '),
      );
  }
  const live = new Set(profiles.map((row) => row.profile_id));
  for (const [key, update] of last) {
    if (live.has(key)) continue;
    const survivor = survivorOf.get(key);
    if (survivor === undefined) differ(key, 'a ProfileUpdate for a profile ClickHouse does not have');
    else if (update?.mergedInto !== survivor)
      differ(
        key,
        `merged into ${survivor}, its last update says ${update ? JSON.stringify(update.mergedInto) : 'tombstone'}`,
      );
  }
  return { keys: last.size, mismatched, described };
}
