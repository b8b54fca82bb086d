import type { SubjectMemory as SubjectMemoryRecord } from '../../../schemas';
import { schema } from '../../../schemas';
import type { KafkaClient } from '../../common/kafka/client';
import type { PrivacyKey } from '../../common/privacy/privacy-key';
import type { AvroCodec } from '../../common/registry';
import { SubjectMemory } from './subject-memory';

/**
 * Rebuilds SubjectMemory from `kumiki.privacy.subjects`, read committed from the beginning to its
 * end — after the stitcher fenced earlier holders of its transactional id (as for the graph), so
 * the end is final and matches the committed input offsets. A tombstone lifts its key.
 */
export async function restoreSubjectMemory(options: {
  readonly kafka: Pick<KafkaClient, 'readToEnd'>;
  readonly codec: AvroCodec;
  readonly topic: string;
  readonly key: PrivacyKey;
  readonly groupIdPrefix: string;
}): Promise<{ memory: SubjectMemory; records: number }> {
  const memory = new SubjectMemory(options.key);
  const reader = schema('SubjectMemory').type;
  const records = await options.kafka.readToEnd({
    topic: options.topic,
    groupIdPrefix: options.groupIdPrefix,
    onBatch: async (messages) => {
      for (const message of messages) {
        const key = message.key?.toString('utf8') ?? '';
        if (message.value === null) {
          memory.apply(key, null);
          continue;
        }
        const decoding = options.codec.decodeNowOrLater<SubjectMemoryRecord>(message.value, reader);
        memory.apply(key, (decoding instanceof Promise ? await decoding : decoding).value);
      }
    },
  });
  return { memory, records };
}
