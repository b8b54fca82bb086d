import type { Event, SchemaName } from '../../../schemas';

/**
 * The one declaration of kumiki's topics (DESIGN.md, "Topics"). Everything that names a
 * topic imports it from here; `ensureTopics` creates them from this list.
 */
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Largest record batch the stitched and dead-letter topics take (`max.message.bytes`). A stitched
 * event is its input plus a head (profile id and the identifiers linked: at most a few hundred of
 * at most 512 characters each), and a dead letter is its original bytes plus the reason; both
 * must fit whatever the input topics accepted (the broker's default, 1 MiB). Otherwise one large
 * input would fail every transaction the stitcher tries, and the stream would stop on it. A
 * ProfileUpdate holds a profile's identifiers (up to their limits), segments and traits (bounded
 * by UPDATE_TRAITS_BYTES), which together can pass 1 MiB.
 */
export const OUTPUT_MESSAGE_BYTES = 2 * 1024 * 1024;

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly cleanup: 'delete' | 'compact';
  /** For `delete` topics; compacted topics keep the latest value per key forever. */
  readonly retentionMs?: number;
  /** Name of the Avro schema in `schemas/` (subject `<topic>-value`); JSON topics have none. */
  readonly valueSchema?: SchemaName;
  /** What the record key is, for the README and producers. */
  readonly key: string;
  /** `max.message.bytes`, where it must be above the broker's default (see OUTPUT_MESSAGE_BYTES). */
  readonly maxMessageBytes?: number;
  /**
   * For compacted topics that hold personal data: `max.compaction.lag.ms`, the longest a record
   * superseded by a newer value or a tombstone stays readable before the log cleaner must
   * compact it. Without it Kafka sets no bound, and an erasure report could name no date.
   */
  readonly maxCompactionLagMs?: number;
}

export const topics = {
  eventsRaw: {
    name: 'kumiki.events.raw',
    partitions: 6,
    cleanup: 'delete',
    retentionMs: 7 * DAY_MS,
    valueSchema: 'Event',
    key: 'userId, else anonymousId, else messageId',
  },
  eventsJson: {
    name: 'kumiki.events.json',
    partitions: 6,
    cleanup: 'delete',
    retentionMs: 7 * DAY_MS,
    key: 'userId, else anonymousId, else messageId',
  },
  eventsStitched: {
    name: 'kumiki.events.stitched',
    partitions: 6,
    cleanup: 'delete',
    retentionMs: 7 * DAY_MS,
    valueSchema: 'StitchedEvent',
    key: 'profile id',
    maxMessageBytes: OUTPUT_MESSAGE_BYTES,
  },
  identityChanges: {
    name: 'kumiki.identity.changes',
    partitions: 6,
    cleanup: 'delete',
    retentionMs: 30 * DAY_MS,
    valueSchema: 'IdentityChange',
    key: 'profile id',
  },
  identityGraph: {
    name: 'kumiki.identity.graph',
    partitions: 6,
    cleanup: 'compact',
    valueSchema: 'IdentityGraphRecord',
    key: 'identifier (type:value)',
    maxCompactionLagMs: 7 * DAY_MS,
  },
  profileUpdates: {
    name: 'kumiki.profiles.updates',
    partitions: 6,
    cleanup: 'compact',
    valueSchema: 'ProfileUpdate',
    key: 'profile id',
    maxMessageBytes: OUTPUT_MESSAGE_BYTES,
    maxCompactionLagMs: 7 * DAY_MS,
  },
  segmentChanges: {
    name: 'kumiki.segments.changes',
    partitions: 6,
    cleanup: 'delete',
    retentionMs: 30 * DAY_MS,
    valueSchema: 'SegmentChange',
    key: 'profile id',
  },
  deadLetters: {
    name: 'kumiki.events.dlq',
    partitions: 6,
    cleanup: 'delete',
    retentionMs: 30 * DAY_MS,
    valueSchema: 'DeadLetter',
    key: 'original key',
    maxMessageBytes: OUTPUT_MESSAGE_BYTES,
  },
  privacyRequests: {
    name: 'kumiki.privacy.requests',
    partitions: 6,
    cleanup: 'delete',
    retentionMs: 30 * DAY_MS,
    valueSchema: 'PrivacyRequest',
    key: 'identifier',
  },
  /** API key records (hashes of secrets only, JSON); every keyed service follows it (docs/access.md). */
  accessKeys: {
    name: 'kumiki.access.keys',
    partitions: 1,
    cleanup: 'compact',
    key: 'key id',
  },
  audit: {
    name: 'kumiki.audit',
    partitions: 6,
    cleanup: 'delete',
    retentionMs: 400 * DAY_MS,
    valueSchema: 'AuditRecord',
    key: 'key id',
  },
  securityAlerts: {
    name: 'kumiki.security.alerts',
    partitions: 1,
    cleanup: 'delete',
    retentionMs: 400 * DAY_MS,
    valueSchema: 'SecurityAlert',
    key: 'rule',
  },
  /**
   * The activator's destinations, their encrypted signing secrets and delivery state. One
   * partition: every instance reads all of it into memory, and one total order of writes.
   */
  destinations: {
    name: 'kumiki.destinations',
    partitions: 1,
    cleanup: 'compact',
    valueSchema: 'Destination',
    key: 'destination id',
  },
  /** The delivery log: every attempt (status, latency, error; never a payload). */
  deliveryAttempts: {
    name: 'kumiki.destinations.deliveries',
    partitions: 6,
    cleanup: 'delete',
    retentionMs: 7 * DAY_MS,
    valueSchema: 'DeliveryAttempt',
    key: 'destination id',
  },
  /** Changes a destination refused for good, with the answer and the original record. */
  destinationDeadLetters: {
    name: 'kumiki.destinations.dlq',
    partitions: 6,
    cleanup: 'delete',
    retentionMs: 30 * DAY_MS,
    valueSchema: 'DestinationDeadLetter',
    key: 'destination id',
    maxMessageBytes: OUTPUT_MESSAGE_BYTES,
  },
  /**
   * Which destinations were sent something about which profile (by keyed hash): who gets a
   * deletion notice when the person is erased. A tombstone once the notice went out.
   */
  destinationRecipients: {
    name: 'kumiki.destinations.recipients',
    partitions: 1,
    cleanup: 'compact',
    valueSchema: 'DestinationRecipient',
    key: '<destination id>:<profile id hash>',
  },
  privacySubjects: {
    name: 'kumiki.privacy.subjects',
    partitions: 1,
    cleanup: 'compact',
    valueSchema: 'SubjectMemory',
    key: 'erased:, suppressed: or executed:<requestId>',
  },
} as const satisfies Record<string, TopicSpec>;

export type TopicKey = keyof typeof topics;

/** Record key of an event on kumiki.events.raw and kumiki.events.json (their `key` above). */
export function eventKey(event: Pick<Event, 'userId' | 'anonymousId' | 'messageId'>): string {
  return event.userId ?? event.anonymousId ?? event.messageId;
}
export const allTopics: readonly TopicSpec[] = Object.values(topics);

/** Broker-side settings of a topic, as Kafka names them. */
export function topicConfigEntries(spec: TopicSpec): { name: string; value: string }[] {
  const entries: { name: string; value: string }[] = [{ name: 'cleanup.policy', value: spec.cleanup }];
  if (spec.cleanup === 'delete' && spec.retentionMs !== undefined) {
    entries.push({ name: 'retention.ms', value: String(spec.retentionMs) });
  }
  if (spec.maxMessageBytes !== undefined)
    entries.push({ name: 'max.message.bytes', value: String(spec.maxMessageBytes) });
  if (spec.maxCompactionLagMs !== undefined)
    entries.push({ name: 'max.compaction.lag.ms', value: String(spec.maxCompactionLagMs) });
  return entries;
}

export function valueSubject(topicName: string): string {
  return `${topicName}-value`;
}
