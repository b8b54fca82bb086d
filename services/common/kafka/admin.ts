import { performance } from 'node:perf_hooks';
import { ConfigResourceTypes, ConfigSource } from 'kafkajs';
import type { PatchedAdmin } from './kafkajs-patch';
import { withRetry } from '../retry';
import { unavailableOnFailure } from './kafka-errors';
import { allTopics, topicConfigEntries, type TopicSpec } from './topics';

export interface TopicLag {
  readonly topic: string;
  readonly partition: number;
  readonly committed: string;
  readonly end: string;
  readonly lag: number;
}

export interface KafkaAdmin {
  connect(): Promise<void>;
  /** Creates the topics that are missing; existing topics are left as they are. */
  ensureTopics(specs?: readonly TopicSpec[]): Promise<string[]>;
  /**
   * Raises `max.message.bytes` of existing topics to their spec where it is lower (topics made
   * before the spec asked for more), keeping every other topic-level setting; returns their names.
   */
  raiseMessageLimits(specs?: readonly TopicSpec[]): Promise<string[]>;
  listTopics(): Promise<string[]>;
  /** Number of partitions of an existing topic. */
  partitionCount(topic: string): Promise<number>;
  describeCluster(): Promise<{ brokers: number; controller: number | null }>;
  groupLag(groupId: string, topics: readonly string[]): Promise<TopicLag[]>;
  /** Partition → the offset after its last record (the high watermark). */
  endOffsets(topic: string): Promise<Map<number, string>>;
  /** Partition → the offset of its first record written at or after `timestampMs` (the end where none is). */
  offsetsAtTime(topic: string, timestampMs: number): Promise<Map<number, string>>;
  /** Partition → the group's committed offset (-1 where none). */
  groupOffsets(groupId: string, topic: string): Promise<Map<number, string>>;
  /** Sets a group's committed offsets; the group must have no running member. */
  setGroupOffsets(groupId: string, topic: string, offsets: ReadonlyMap<number, string>): Promise<void>;
  /** Deletes groups that have no running member; returns the ids that could not be deleted. */
  deleteGroups(groupIds: readonly string[]): Promise<string[]>;
  /** Every setting of these topics as the broker applies it (overrides and defaults); topics that do not exist are left out. */
  topicConfigs(names: readonly string[]): Promise<Map<string, Record<string, string>>>;
  deleteTopics(names: readonly string[]): Promise<void>;
  disconnect(): Promise<void>;
}

/** The admin operations kumiki uses, over kafkajs' admin client. */
export function wrapAdmin(admin: PatchedAdmin): KafkaAdmin {
  // kafkajs' admin keeps one set of target topics and refreshes their metadata lazily: two offset
  // look-ups of different topics at once can find the other's metadata only, and fail on a
  // partition list that is not there. Look-ups by topic go one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  };
  const endOffsets = coalescedEndOffsets(
    (topics) => serial(() => readEndOffsets(admin, topics)),
    END_OFFSETS_SPACING_MS,
  );
  return {
    connect: () => unavailableOnFailure('connect admin', () => admin.connect()),
    async ensureTopics(specs = allTopics) {
      const existing = new Set(await unavailableOnFailure('list topics', () => admin.listTopics()));
      const missing = specs.filter((spec) => !existing.has(spec.name));
      if (missing.length === 0) return [];
      await unavailableOnFailure('create topics', () =>
        admin.createTopics({
          // Leaders are awaited below with our own bounded retry: kafkajs' wait gives up on a
          // freshly started broker's transient "does not host this topic-partition".
          waitForLeaders: false,
          topics: missing.map((spec) => ({
            topic: spec.name,
            numPartitions: spec.partitions,
            replicationFactor: -1,
            configEntries: topicConfigEntries(spec),
          })),
        }),
      );
      const names = missing.map((spec) => spec.name);
      // A broker that has just started can answer "does not host this topic-partition" for a
      // moment after creation; wait until every new topic's metadata is served.
      await withRetry(
        async () => {
          const { topics: described } = await admin.fetchTopicMetadata({ topics: names });
          const leaderless = described.filter((topic) => topic.partitions.some((partition) => partition.leader < 0));
          if (leaderless.length > 0)
            throw Object.assign(new Error(`no leader yet for ${leaderless.map((t) => t.name).join(', ')}`), {
              retriable: true,
            });
        },
        {
          initialDelayMs: 100,
          maxDelayMs: 1_000,
          deadlineMs: 30_000,
          shouldRetry: (error) =>
            (error as { retriable?: boolean }).retriable === true ||
            /does not host|UNKNOWN_TOPIC|LEADER_NOT_AVAILABLE/i.test(String(error)),
        },
      );
      return names;
    },
    async raiseMessageLimits(specs = allTopics) {
      const wanted = specs.filter((spec) => spec.maxMessageBytes !== undefined);
      if (wanted.length === 0) return [];
      const existing = new Set(await unavailableOnFailure('list topics', () => admin.listTopics()));
      const resources = wanted
        .filter((spec) => existing.has(spec.name))
        .map((spec) => ({ type: ConfigResourceTypes.TOPIC, name: spec.name }));
      if (resources.length === 0) return [];
      const described = await unavailableOnFailure('describe topic configs', () =>
        admin.describeConfigs({ resources, includeSynonyms: false }),
      );
      const raised: string[] = [];
      for (const { resourceName, configEntries } of described.resources) {
        const limit = wanted.find((spec) => spec.name === resourceName)!.maxMessageBytes!;
        const current = configEntries.find((entry) => entry.configName === 'max.message.bytes');
        if (current && Number(current.configValue) >= limit) continue;
        // AlterConfigs replaces a topic's whole set of overrides: carry the others over.
        const overrides = configEntries
          .filter(
            (entry) => entry.configSource === ConfigSource.TOPIC_CONFIG && entry.configName !== 'max.message.bytes',
          )
          .map((entry) => ({ name: entry.configName, value: entry.configValue }));
        await unavailableOnFailure(`raise max.message.bytes of ${resourceName}`, () =>
          admin.alterConfigs({
            validateOnly: false,
            resources: [
              {
                type: ConfigResourceTypes.TOPIC,
                name: resourceName,
                configEntries: [...overrides, { name: 'max.message.bytes', value: String(limit) }],
              },
            ],
          }),
        );
        raised.push(resourceName);
      }
      return raised;
    },
    listTopics: () => unavailableOnFailure('list topics', () => admin.listTopics()),
    async partitionCount(topic) {
      const { topics: described } = await serial(() =>
        unavailableOnFailure(`describe ${topic}`, () => admin.fetchTopicMetadata({ topics: [topic] })),
      );
      return described[0]?.partitions.length ?? 0;
    },
    async describeCluster() {
      const cluster = await unavailableOnFailure('describe cluster', () => admin.describeCluster());
      return { brokers: cluster.brokers.length, controller: cluster.controller };
    },
    async groupLag(groupId, topicNames) {
      const lags: TopicLag[] = [];
      const committed = await admin.fetchOffsets({ groupId, topics: [...topicNames] });
      for (const { topic, partitions } of committed) {
        const ends = await admin.fetchTopicOffsets(topic);
        for (const end of ends) {
          const done = partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
          const start = Number(done) < 0 ? Number(end.low) : Number(done);
          lags.push({
            topic,
            partition: end.partition,
            committed: done,
            end: end.high,
            lag: Math.max(0, Number(end.high) - start),
          });
        }
      }
      return lags;
    },
    endOffsets: (topic) => endOffsets(topic),
    async offsetsAtTime(topic, timestampMs) {
      const offsets = await serial(() =>
        unavailableOnFailure(`fetch offsets of ${topic} by time`, () =>
          admin.fetchTopicOffsetsByTimestamp(topic, timestampMs),
        ),
      );
      return new Map(offsets.map((o) => [o.partition, o.offset]));
    },
    async groupOffsets(groupId, topic) {
      const [committed] = await unavailableOnFailure(`fetch offsets of group ${groupId}`, () =>
        admin.fetchOffsets({ groupId, topics: [topic] }),
      );
      return new Map((committed?.partitions ?? []).map((p) => [p.partition, p.offset]));
    },
    async setGroupOffsets(groupId, topic, offsets) {
      if (offsets.size === 0) return;
      await serial(() =>
        unavailableOnFailure(`set offsets of group ${groupId}`, () =>
          admin.setOffsets({
            groupId,
            topic,
            partitions: [...offsets].map(([partition, offset]) => ({ partition, offset })),
          }),
        ),
      );
    },
    async deleteGroups(groupIds) {
      if (groupIds.length === 0) return [];
      try {
        await admin.deleteGroups([...groupIds]);
        return [];
      } catch (error) {
        // kafkajs reports the groups it could not delete (still running, unknown) in `groups`.
        const failed = (error as { groups?: { groupId: string; errorCode: number }[] }).groups;
        if (!failed) throw error;
        return failed.filter((g) => g.errorCode !== 0).map((g) => g.groupId);
      }
    },
    async topicConfigs(names) {
      const existing = new Set(await unavailableOnFailure('list topics', () => admin.listTopics()));
      const resources = names
        .filter((name) => existing.has(name))
        .map((name) => ({ type: ConfigResourceTypes.TOPIC, name }));
      if (resources.length === 0) return new Map();
      const described = await unavailableOnFailure('describe topic configs', () =>
        admin.describeConfigs({ resources, includeSynonyms: false }),
      );
      return new Map(
        described.resources.map(({ resourceName, configEntries }) => [
          resourceName,
          Object.fromEntries(configEntries.map((entry) => [entry.configName, entry.configValue])),
        ]),
      );
    },
    deleteTopics: (names) => admin.deleteTopics({ topics: [...names] }),
    disconnect: () => admin.disconnect(),
  };
}

type EndOffsets = Map<string, Map<number, string>>;

/**
 * How often end offsets are read at most. The activator's catch-up barriers would otherwise read
 * them back to back, a request per round trip whatever the number of deliveries waiting; each
 * waits up to this much longer instead.
 */
export const END_OFFSETS_SPACING_MS = 10;

async function readEndOffsets(admin: PatchedAdmin, topics: readonly string[]): Promise<EndOffsets> {
  const read = await unavailableOnFailure(`fetch end offsets of ${topics.join(', ')}`, () =>
    admin.fetchTopicsEndOffsets([...topics]),
  );
  return new Map(read.map(({ topic, partitions }) => [topic, new Map(partitions.map((p) => [p.partition, p.offset]))]));
}

/**
 * End offsets asked for while a read is on its way share the next read, one ListOffsets request
 * for all their topics (the activator's catch-up barriers ask continuously, for several topics):
 * every answer was read after its call. When a shared read fails, each of its topics is read
 * again alone, so one topic's failure is its own callers' only.
 */
export function coalescedEndOffsets(
  read: (topics: readonly string[]) => Promise<EndOffsets>,
  spacingMs: number,
): (topic: string) => Promise<Map<number, string>> {
  let startedAt = Number.NEGATIVE_INFINITY;
  type PerTopic = Map<string, Promise<Map<number, string>>>;
  let open: { readonly topics: Set<string>; readonly result: Promise<PerTopic> } | undefined;
  let previous: Promise<unknown> = Promise.resolve();
  const one = (topic: string): Promise<Map<number, string>> =>
    read([topic]).then((ends) => ends.get(topic) ?? new Map());
  return async (topic) => {
    if (!open) {
      const topics = new Set<string>();
      // It starts once the read before it ended, and no sooner than `spacingMs` after that one
      // started; until then, callers join it.
      const result = previous.then(async (): Promise<PerTopic> => {
        const wait = startedAt + spacingMs - performance.now();
        await new Promise((resolve) => (wait > 0 ? setTimeout(resolve, wait) : setImmediate(resolve)));
        startedAt = performance.now();
        if (open?.topics === topics) open = undefined;
        const names = [...topics];
        if (names.length === 1) return new Map([[names[0]!, one(names[0]!)]]);
        try {
          const ends = await read(names);
          return new Map(names.map((name) => [name, Promise.resolve(ends.get(name) ?? new Map())]));
        } catch {
          return new Map(names.map((name) => [name, one(name)]));
        }
      });
      open = { topics, result };
      previous = result.then((perTopic) => Promise.allSettled(perTopic.values()));
    }
    open.topics.add(topic);
    return (await open.result).get(topic)!;
  };
}
