import type { IdentityGraphRecord } from '../../schemas';
import { schema } from '../../schemas';
import type { KafkaClient } from '../common/kafka/client';
import type { Logger } from '../common/logger';
import type { AvroCodec } from '../common/registry';
import { IdentityGraph } from './identity/identity-graph';
import type { IdentityRules } from './identity/identity-rules';
import type { StitcherMetrics } from './stitcher.metrics';

export interface RestoredGraph {
  readonly graph: IdentityGraph;
  /** Changelog records read (a key may appear more than once before compaction). */
  readonly records: number;
  readonly seconds: number;
}

/**
 * Rebuilds the identity graph from its compacted changelog (`kumiki.identity.graph`), read
 * committed from the beginning to the end offsets it has when the read starts. The caller
 * must have fenced every other writer first (the stitcher initialises its transactional id
 * before calling this), so those end offsets are final: the result is exactly the state the
 * committed input offsets correspond to. A null value (tombstone) forgets its key.
 */
export async function restoreIdentityGraph(options: {
  readonly kafka: Pick<KafkaClient, 'readToEnd'>;
  readonly codec: AvroCodec;
  readonly topic: string;
  readonly rules: IdentityRules;
  readonly groupIdPrefix: string;
}): Promise<RestoredGraph> {
  const started = process.hrtime.bigint();
  const graph = new IdentityGraph(options.rules);
  const recordType = schema('IdentityGraphRecord').type;
  const records = await options.kafka.readToEnd({
    topic: options.topic,
    groupIdPrefix: options.groupIdPrefix,
    onBatch: async (messages) => {
      for (const message of messages) {
        if (message.value === null) {
          const key = message.key?.toString('utf8') ?? '';
          const colon = key.indexOf(':');
          if (colon > 0) graph.restoreTombstone({ type: key.slice(0, colon), value: key.slice(colon + 1) });
          continue;
        }
        // No await per record once the schema is known (millions of records at start-up).
        const decoding = options.codec.decodeNowOrLater<IdentityGraphRecord>(message.value, recordType);
        const { value } = decoding instanceof Promise ? await decoding : decoding;
        graph.restoreRecord(value);
      }
    },
  });
  graph.finishRestore();
  return { graph, records, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** restoreIdentityGraph, with what it found logged and in the metrics. */
export async function restoreAndReport(
  options: Parameters<typeof restoreIdentityGraph>[0] & {
    readonly metrics: Pick<
      StitcherMetrics,
      'restoreSeconds' | 'restoredRecords' | 'graphIdentifiers' | 'graphProfiles'
    >;
    readonly logger: Logger;
  },
): Promise<IdentityGraph> {
  const { graph, records, seconds } = await restoreIdentityGraph(options);
  const { metrics } = options;
  metrics.restoreSeconds.set(seconds);
  metrics.restoredRecords.set(records);
  metrics.graphIdentifiers.set(graph.identifierCount);
  metrics.graphProfiles.set(graph.profileCount);
  options.logger.info(
    {
      records,
      identifiers: graph.identifierCount,
      profiles: graph.profileCount,
      respelled: graph.respelledCount,
      seconds,
    },
    'identity graph restored',
  );
  return graph;
}
