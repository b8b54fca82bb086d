import type { IncomingMessage, KafkaClient } from '../../common/kafka/client';
import { isoTime, type ResidualReport } from '../../common/privacy/privacy-report';
import type { PrivacyTopics } from './privacy-executor.deps';
import type { SubjectView } from './privacy-request.repository';
import { allProfileIds } from './privacy-run';

/**
 * What of a person is still on Kafka topics that cannot be edited — topics with time retention
 * (events, stitched events, identity changes, segment changes, dead letters, the privacy
 * requests themselves), and the superseded values of the compacted topics until the log cleaner
 * compacts them — counted by reading each topic, and the date Kafka removes them by.
 *
 * How a record is told to be the person's, per topic (keys are what each topic is keyed by):
 * - events (raw, JSON): its key is one of the person's user or anonymous ids, or its messageId is
 *   one of the person's events (read from the events table before the erase);
 * - stitched events, identity changes, segment changes, profile updates: keyed by one of the
 *   person's profile ids (identity changes also when they name one of the identifiers);
 * - the identity graph and the privacy requests: keyed by one of the identifiers (`type:value`);
 * - dead letters: the record names one of the identifiers, profile ids or messageIds anywhere
 *   (case-insensitive: the original bytes are the event as sent).
 */
export interface PersonKeys {
  readonly profileIds: ReadonlySet<string>;
  /** `type:value` of each identifier (normalised, and the requested one as given). */
  readonly identifierKeys: ReadonlySet<string>;
  /** user_id and anonymous_id values: the keys of the event topics. */
  readonly eventKeys: ReadonlySet<string>;
  readonly messageIds: ReadonlySet<string>;
  /** Identifier values and profile ids, lower-cased, to look for inside records. */
  readonly needles: readonly string[];
}

export type TopicRole = 'raw' | 'json' | 'keyedByProfile' | 'changes' | 'keyedByIdentifier' | 'deadLetters';

export interface ResidualTopic {
  readonly topic: string;
  readonly role: TopicRole;
  readonly cleanup: 'delete' | 'compact';
}

/** The topics an erase reads for what it cannot delete, by how their records are told to be the person's. */
export function residualTopicsOf(topics: PrivacyTopics): ResidualTopic[] {
  return [
    { topic: topics.raw, role: 'raw', cleanup: 'delete' },
    { topic: topics.json, role: 'json', cleanup: 'delete' },
    { topic: topics.stitched, role: 'keyedByProfile', cleanup: 'delete' },
    { topic: topics.changes, role: 'changes', cleanup: 'delete' },
    { topic: topics.segments, role: 'keyedByProfile', cleanup: 'delete' },
    { topic: topics.deadLetters, role: 'deadLetters', cleanup: 'delete' },
    { topic: topics.privacy, role: 'keyedByIdentifier', cleanup: 'delete' },
    { topic: topics.graph, role: 'keyedByIdentifier', cleanup: 'compact' },
    { topic: topics.updates, role: 'keyedByProfile', cleanup: 'compact' },
  ];
}

/** The person's keys, from the request's subject and the messageIds of their events. */
export function personKeysOf(subject: SubjectView, messageIds: readonly string[]): PersonKeys {
  const identifiers = [...subject.identifiers, ...(subject.requested ? [subject.requested] : [])];
  return {
    profileIds: new Set(allProfileIds(subject)),
    identifierKeys: new Set(identifiers.map((i) => `${i.type}:${i.value}`)),
    eventKeys: new Set(
      identifiers.filter((i) => i.type === 'user_id' || i.type === 'anonymous_id').map((i) => i.value),
    ),
    messageIds: new Set(messageIds),
    // Short values (a user id "42") would be found inside unrelated records.
    needles: [...new Set([...identifiers.map((i) => i.value), ...allProfileIds(subject)])]
      .filter((value) => value.length >= 6)
      .map((value) => value.toLowerCase()),
  };
}

/** Whether a record of a topic in `role` belongs to the person. */
export function belongsTo(person: PersonKeys, role: TopicRole, message: IncomingMessage): boolean {
  const key = message.key?.toString('utf8') ?? '';
  switch (role) {
    case 'raw':
      return (
        person.eventKeys.has(key) || person.messageIds.has(key) || hasMessageId(person, avroMessageId(message.value))
      );
    case 'json':
      return (
        person.eventKeys.has(key) || person.messageIds.has(key) || hasMessageId(person, jsonMessageId(message.value))
      );
    case 'keyedByProfile':
      return person.profileIds.has(key);
    case 'changes':
      return person.profileIds.has(key) || mentions(message.value, person.needles);
    case 'keyedByIdentifier':
      return person.identifierKeys.has(key);
    case 'deadLetters':
      return (
        person.eventKeys.has(key) ||
        person.messageIds.has(key) ||
        mentions(message.value, [...person.needles, ...[...person.messageIds].map((id) => id.toLowerCase())])
      );
  }
}

function hasMessageId(person: PersonKeys, id: string | undefined): boolean {
  return id !== undefined && person.messageIds.has(id);
}

/** The messageId of an Event in the Avro wire format: the body's first field (a string: zig-zag varint length, UTF-8). */
export function avroMessageId(value: Buffer | null): string | undefined {
  if (!value || value.length < 6 || value[0] !== 0) return undefined;
  let at = 5;
  let shift = 0;
  let zigzag = 0;
  for (;;) {
    if (at >= value.length || shift > 28) return undefined;
    const byte = value[at++]!;
    zigzag |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) break;
    shift += 7;
  }
  const length = (zigzag >>> 1) ^ -(zigzag & 1);
  if (length < 0 || at + length > value.length) return undefined;
  return value.toString('utf8', at, at + length);
}

const JSON_MESSAGE_ID = /"messageId"\s*:\s*"((?:[^"\\]|\\.)*)"/;

export function jsonMessageId(value: Buffer | null): string | undefined {
  if (!value) return undefined;
  const match = JSON_MESSAGE_ID.exec(value.toString('utf8'));
  if (!match) return undefined;
  try {
    return JSON.parse(`"${match[1]}"`) as string;
  } catch {
    return undefined;
  }
}

function mentions(value: Buffer | null, needles: readonly string[]): boolean {
  if (!value || needles.length === 0) return false;
  const text = value.toString('latin1').toLowerCase();
  return needles.some((needle) => needle !== '' && text.includes(needle));
}

/** Reads each topic to its end and reports the person's records on it; a topic that does not exist is left out. */
export async function scanResidualData(
  kafka: Pick<KafkaClient, 'readToEnd' | 'admin'>,
  topics: readonly ResidualTopic[],
  person: PersonKeys,
  options: { readonly onProgress?: () => Promise<void> } = {},
): Promise<ResidualReport[]> {
  const admin = kafka.admin();
  await admin.connect();
  let configs: Map<string, Record<string, string>>;
  try {
    configs = await admin.topicConfigs(topics.map((t) => t.topic));
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const reports: ResidualReport[] = [];
  for (const target of topics) {
    const config = configs.get(target.topic);
    if (!config) continue;
    let records = 0;
    let oldest = Number.POSITIVE_INFINITY;
    let newest = Number.NEGATIVE_INFINITY;
    await kafka.readToEnd({
      topic: target.topic,
      groupIdPrefix: 'kumiki-privacy-residual',
      onBatch: async (messages) => {
        for (const message of messages) {
          // A tombstone holds nothing of anyone.
          if (message.value === null || !belongsTo(person, target.role, message)) continue;
          records += 1;
          const at = Number(message.timestamp);
          if (at < oldest) oldest = at;
          if (at > newest) newest = at;
        }
        await options.onProgress?.();
      },
    });
    reports.push(residualReport(target, config, records, oldest, newest));
  }
  return reports;
}

/** Kafka's own default (log.retention.check.interval.ms): how often the broker looks for segments to delete. */
const RETENTION_CHECK_MS = 5 * 60 * 1000;
const NO_BOUND = '9223372036854775807';

export function residualReport(
  target: ResidualTopic,
  config: Readonly<Record<string, string>>,
  records: number,
  oldest: number,
  newest: number,
): ResidualReport {
  const found = records > 0;
  const base = {
    topic: target.topic,
    cleanup: target.cleanup,
    records,
    oldest: found ? isoTime(oldest) : null,
    newest: found ? isoTime(newest) : null,
  };
  if (target.cleanup === 'compact') {
    const lag = config['max.compaction.lag.ms'];
    const bounded = lag !== undefined && lag !== NO_BOUND && Number.isFinite(Number(lag));
    return {
      ...base,
      removedBy: found && bounded ? isoTime(newest + Number(lag)) : null,
      how: bounded
        ? `superseded by tombstones; the log cleaner compacts them within max.compaction.lag.ms (${lag} ms)`
        : 'superseded by tombstones; removed when the log cleaner next compacts the partition (max.compaction.lag.ms sets no bound on this topic)',
    };
  }
  const retention = Number(config['retention.ms'] ?? '604800000');
  const segment = Number(config['segment.ms'] ?? '604800000');
  if (retention < 0)
    return {
      ...base,
      removedBy: null,
      how: 'retention.ms = -1: this topic keeps records forever; delete them by hand',
    };
  return {
    ...base,
    removedBy: found ? isoTime(newest + segment + retention + RETENTION_CHECK_MS) : null,
    how: `removed with their log segment, once it is older than retention.ms (${retention} ms); a segment closes at most segment.ms (${segment} ms) after it opened while its partition keeps receiving records`,
  };
}
