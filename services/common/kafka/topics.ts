/**
 * The one declaration of kumiki's topics (DESIGN.md, "Topics"). Everything that names a
 * topic imports it from here; `ensureTopics` creates them from this list.
 */
const DAY_MS = 24 * 60 * 60 * 1000;

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly cleanup: 'delete' | 'compact';
  /** For `delete` topics; compacted topics keep the latest value per key forever. */
  readonly retentionMs?: number;
  /** Name of the Avro schema in `schemas/` (subject `<topic>-value`); JSON topics have none. */
  readonly valueSchema?: string;
  /** What the record key is, for the README and producers. */
  readonly key: string;
}

export const topics = {
  eventsRaw: { name: 'kumiki.events.raw', partitions: 6, cleanup: 'delete', retentionMs: 7 * DAY_MS, valueSchema: 'Event', key: 'userId, else anonymousId, else messageId' },
  eventsJson: { name: 'kumiki.events.json', partitions: 6, cleanup: 'delete', retentionMs: 7 * DAY_MS, key: 'userId, else anonymousId, else messageId' },
  eventsStitched: { name: 'kumiki.events.stitched', partitions: 6, cleanup: 'delete', retentionMs: 7 * DAY_MS, valueSchema: 'StitchedEvent', key: 'profile id' },
  identityChanges: { name: 'kumiki.identity.changes', partitions: 6, cleanup: 'delete', retentionMs: 30 * DAY_MS, valueSchema: 'IdentityChange', key: 'profile id' },
  identityGraph: { name: 'kumiki.identity.graph', partitions: 6, cleanup: 'compact', valueSchema: 'IdentityGraphRecord', key: 'identifier (type:value)' },
  profileUpdates: { name: 'kumiki.profiles.updates', partitions: 6, cleanup: 'compact', valueSchema: 'ProfileUpdate', key: 'profile id' },
  segmentChanges: { name: 'kumiki.segments.changes', partitions: 6, cleanup: 'delete', retentionMs: 30 * DAY_MS, valueSchema: 'SegmentChange', key: 'profile id' },
  deadLetters: { name: 'kumiki.events.dlq', partitions: 6, cleanup: 'delete', retentionMs: 30 * DAY_MS, valueSchema: 'DeadLetter', key: 'original key' },
  privacyRequests: { name: 'kumiki.privacy.requests', partitions: 6, cleanup: 'delete', retentionMs: 30 * DAY_MS, valueSchema: 'PrivacyRequest', key: 'identifier' },
} as const satisfies Record<string, TopicSpec>;

export type TopicKey = keyof typeof topics;
export const allTopics: readonly TopicSpec[] = Object.values(topics);

/** Broker-side settings of a topic, as Kafka names them. */
export function topicConfigEntries(spec: TopicSpec): { name: string; value: string }[] {
  const entries: { name: string; value: string }[] = [{ name: 'cleanup.policy', value: spec.cleanup }];
  if (spec.cleanup === 'delete' && spec.retentionMs !== undefined) {
    entries.push({ name: 'retention.ms', value: String(spec.retentionMs) });
  }
  return entries;
}

export function valueSubject(topicName: string): string {
  return `${topicName}-value`;
}
