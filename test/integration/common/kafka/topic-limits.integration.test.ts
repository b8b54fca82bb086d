/**
 * Topics that must take records above the broker's default size get `max.message.bytes` from
 * their spec when they are created, and topics made before the spec asked for it are raised to
 * it at start, without losing their other settings.
 */
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { OUTPUT_MESSAGE_BYTES, type TopicSpec } from '../../../../services/common/kafka/topics';
import { testKafka } from '../../../support/kafka';
import { testStack, uniqueName } from '../../../support/stack-env';

const kafka = testKafka();

async function topicSettings(topic: string): Promise<Record<string, string>> {
  const admin = new Kafka({ brokers: testStack().brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
      includeSynonyms: false,
    });
    return Object.fromEntries(resources[0]!.configEntries.map((entry) => [entry.configName, entry.configValue]));
  } finally {
    await admin.disconnect();
  }
}

test('a new topic gets its spec’s max.message.bytes; an older one is raised to it, keeping its other settings', async () => {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const older = uniqueName('limits-older');
    const base: Omit<TopicSpec, 'name'> = { partitions: 1, cleanup: 'delete', retentionMs: 3_600_000, key: 'test' };
    await admin.ensureTopics([{ ...base, name: older }]); // made before the spec asked for a larger limit
    expect(Number((await topicSettings(older))['max.message.bytes'])).toBeLessThan(OUTPUT_MESSAGE_BYTES);

    const spec: TopicSpec = { ...base, name: older, maxMessageBytes: OUTPUT_MESSAGE_BYTES };
    expect(await admin.raiseMessageLimits([spec])).toEqual([older]);
    expect(await admin.raiseMessageLimits([spec])).toEqual([]); // already there
    const raised = await topicSettings(older);
    expect(raised['max.message.bytes']).toBe(String(OUTPUT_MESSAGE_BYTES));
    expect(raised['retention.ms']).toBe('3600000');
    expect(raised['cleanup.policy']).toBe('delete');

    const fresh = uniqueName('limits-new');
    await admin.ensureTopics([{ ...spec, name: fresh }]);
    expect((await topicSettings(fresh))['max.message.bytes']).toBe(String(OUTPUT_MESSAGE_BYTES));
    await admin.deleteTopics([older, fresh]);
  } finally {
    await admin.disconnect();
  }
});
