import type { PatchedAdmin } from '../../../../services/common/kafka/kafkajs-patch';
import { KafkaJSConnectionError, KafkaJSNonRetriableError } from 'kafkajs';
import { DependencyUnavailableError, isRetriable } from '../../../../services/common/errors';
import { wrapAdmin } from '../../../../services/common/kafka/admin';

const spec = { name: 't', partitions: 1, cleanup: 'delete', key: 'k' } as const;

describe("kumiki's Kafka admin", () => {
  it('makes topics while the broker restarts a retriable failure, not a reason to give up', async () => {
    // While a broker restarted, kafkajs' listTopics threw a TypeError from inside (no broker of
    // the pool answered, metadata came back null); ensureTopics passed it on raw and the
    // stitcher starting just then gave up and exited (found by the chaos soak).
    const restarting = {
      listTopics: async () =>
        Promise.reject(
          new TypeError("Cannot destructure property 'topicMetadata' of '(intermediate value)' as it is null."),
        ),
    };
    const failure = await wrapAdmin(restarting as unknown as PatchedAdmin)
      .ensureTopics([spec])
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DependencyUnavailableError);
    expect(isRetriable(failure)).toBe(true);
    expect((failure as Error).message).toMatch(/^Kafka: cannot list topics: /);

    const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
    const creating = {
      listTopics: async () => [],
      createTopics: async () =>
        Promise.reject(Object.assign(new KafkaJSNonRetriableError(refused), { cause: refused })),
    };
    const created = await wrapAdmin(creating as unknown as PatchedAdmin)
      .ensureTopics([spec])
      .catch((e: unknown) => e);
    expect(created).toBeInstanceOf(DependencyUnavailableError);
    expect((created as Error).message).toMatch(/^Kafka: cannot create topics: Connection error/);
  });
});
