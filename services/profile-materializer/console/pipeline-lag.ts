import type { KafkaAdmin, KafkaClient } from '../../common/kafka/client';
import type { Logger } from '../../common/logger';
import { errorMessage } from '../../common/errors';

/** A consumer stage of the pipeline: its group and the topics it reads. */
export interface PipelineStage {
  readonly stage: string;
  readonly groupId: string;
  readonly topics: readonly string[];
}

export interface StageLag {
  readonly stage: string;
  readonly groupId: string;
  /** Records written to its topics and not yet committed by the group; null when Kafka did not answer. */
  readonly records: number | null;
  readonly topics: readonly { readonly topic: string; readonly records: number }[];
  readonly error?: string;
}

/**
 * Lag per stage from Kafka's own bookkeeping: the topics' end offsets minus the groups' committed
 * offsets (Kafka admin requests, the numbers `kafka-consumer-groups --describe` prints). It costs
 * the services nothing: no process reports anything, the broker answers. One admin connection,
 * opened on first use; answers are reused for `cacheMs` so that several open consoles ask Kafka
 * once.
 */
export function createPipelineLag(options: {
  readonly kafka: KafkaClient;
  readonly stages: readonly PipelineStage[];
  readonly logger: Logger;
  readonly cacheMs?: number;
  readonly now?: () => number;
}): { read(): Promise<StageLag[]>; close(): Promise<void> } {
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? 2_000;
  let admin: Promise<KafkaAdmin> | undefined;
  let cached: { at: number; value: Promise<StageLag[]> } | undefined;

  const connect = (): Promise<KafkaAdmin> =>
    (admin ??= (async () => {
      const created = options.kafka.admin();
      await created.connect();
      return created;
    })().catch((error: unknown) => {
      admin = undefined;
      throw error;
    }));

  const readStage = async (stage: PipelineStage): Promise<StageLag> => {
    try {
      const lags = await (await connect()).groupLag(stage.groupId, stage.topics);
      const byTopic = new Map<string, number>();
      for (const lag of lags) byTopic.set(lag.topic, (byTopic.get(lag.topic) ?? 0) + lag.lag);
      return {
        stage: stage.stage,
        groupId: stage.groupId,
        records: [...byTopic.values()].reduce((a, b) => a + b, 0),
        topics: [...byTopic].map(([topic, records]) => ({ topic, records })),
      };
    } catch (error) {
      options.logger.warn({ stage: stage.stage, error: errorMessage(error) }, 'consumer lag could not be read');
      return { stage: stage.stage, groupId: stage.groupId, records: null, topics: [], error: errorMessage(error) };
    }
  };

  return {
    read() {
      if (!cached || now() - cached.at >= cacheMs)
        cached = { at: now(), value: Promise.all(options.stages.map(readStage)) };
      return cached.value;
    },
    async close() {
      const open = admin;
      admin = undefined;
      if (open) await (await open.catch(() => undefined))?.disconnect();
    },
  };
}
