import pino from 'pino';
import type { KafkaAdmin, KafkaClient, TopicLag } from '../../../../services/common/kafka/client';
import { createPipelineLag } from '../../../../services/profile-materializer/console/pipeline-lag';

/** A Kafka client whose admin answers group lag from a table (unit test of the sums and the cache). */
function fakeKafka(lags: Record<string, TopicLag[] | Error>): {
  kafka: KafkaClient;
  asked: string[];
  connects: number;
} {
  const state = { asked: [] as string[], connects: 0 };
  const admin = {
    connect: async () => {
      state.connects += 1;
    },
    groupLag: async (groupId: string) => {
      state.asked.push(groupId);
      const answer = lags[groupId];
      if (answer instanceof Error) throw answer;
      return answer ?? [];
    },
    disconnect: async () => undefined,
  } as unknown as KafkaAdmin;
  return {
    kafka: { admin: () => admin } as unknown as KafkaClient,
    get asked() {
      return state.asked;
    },
    get connects() {
      return state.connects;
    },
  };
}

const lag = (topic: string, partition: number, records: number): TopicLag => ({
  topic,
  partition,
  committed: '0',
  end: String(records),
  lag: records,
});

describe('pipeline lag', () => {
  it('sums records behind per stage and topic, says which stage Kafka did not answer for, and asks once per window', async () => {
    const fake = fakeKafka({
      stitcher: [lag('raw', 0, 3), lag('raw', 1, 4), lag('json', 0, 0)],
      materializer: new Error('coordinator not available'),
    });
    let now = 1_000;
    const reader = createPipelineLag({
      kafka: fake.kafka,
      logger: pino({ level: 'silent' }),
      stages: [
        { stage: 'identity-stitcher', groupId: 'stitcher', topics: ['raw', 'json'] },
        { stage: 'profile-materializer', groupId: 'materializer', topics: ['stitched'] },
      ],
      cacheMs: 2_000,
      now: () => now,
    });
    expect(await reader.read()).toEqual([
      {
        stage: 'identity-stitcher',
        groupId: 'stitcher',
        records: 7,
        topics: [
          { topic: 'raw', records: 7 },
          { topic: 'json', records: 0 },
        ],
      },
      {
        stage: 'profile-materializer',
        groupId: 'materializer',
        records: null,
        topics: [],
        error: 'coordinator not available',
      },
    ]);
    now += 1_999;
    await reader.read();
    expect(fake.asked).toEqual(['stitcher', 'materializer']);
    now += 1;
    await reader.read();
    expect(fake.asked).toEqual(['stitcher', 'materializer', 'stitcher', 'materializer']);
    expect(fake.connects).toBe(1);
    await reader.close();
  });
});
