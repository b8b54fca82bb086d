import type { DestinationRecipient } from '../../../schemas';
import { schema } from '../../../schemas';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import type { KafkaClient } from '../../common/kafka/client';
import type { PrivacyKey } from '../../common/privacy/privacy-key';
import type { AvroCodec } from '../../common/registry/avro-codec';
import { exportRecipientsOf } from './export-recipients';

/** A destination that was sent something about one of the person's profiles. */
export interface DestinationReceived {
  readonly destinationId: string;
  /** When its first delivery (or first export) of the profile began (ISO 8601). */
  readonly firstAt: string;
  readonly profileId: string;
  /** How: webhook deliveries (kumiki.destinations.recipients) or audience exports (export_recipients_store). */
  readonly via: 'webhook' | 'export';
}

export interface RecipientsOptions {
  readonly kafka: Pick<KafkaClient, 'readToEnd'>;
  readonly codec: () => Pick<AvroCodec, 'decodeNowOrLater'>;
  readonly topic: string;
  readonly key: PrivacyKey;
  readonly groupIdPrefix: string;
  /** The ClickHouse holding the exports' ledger; without it only webhook recipients are read. */
  readonly clickhouse?: () => ClickHouse;
}

/** destinationsThatReceived, bound to its options. */
export function recipientsReader(
  options: RecipientsOptions,
): (profileIds: readonly string[]) => Promise<DestinationReceived[]> {
  return (profileIds) => destinationsThatReceived(options, profileIds);
}

/**
 * The destinations that received the person, from the activator's two recipient ledgers: webhook
 * deliveries in kumiki.destinations.recipients (compacted, keyed `<destination id>:<keyed hash of
 * the profile id>`, written before a destination's first delivery of a profile), read to its end,
 * the latest record per key kept (a tombstone: the pair was forgotten after its deletion notice);
 * and audience exports in export_recipients_store (export-recipients.ts), by the same hashes.
 */
export async function destinationsThatReceived(
  options: RecipientsOptions,
  profileIds: readonly string[],
): Promise<DestinationReceived[]> {
  const byHash = new Map(profileIds.map((id) => [options.key.hashProfileId(id), id]));
  const latest = new Map<string, DestinationReceived | null>();
  const reader = schema('DestinationRecipient').type;
  await options.kafka.readToEnd({
    topic: options.topic,
    groupIdPrefix: options.groupIdPrefix,
    onBatch: async (messages) => {
      for (const message of messages) {
        const key = message.key?.toString('utf8') ?? '';
        const profileId = byHash.get(key.slice(key.lastIndexOf(':') + 1));
        if (profileId === undefined) continue;
        if (message.value === null) {
          latest.set(key, null);
          continue;
        }
        const decoding = options.codec().decodeNowOrLater<DestinationRecipient>(message.value, reader);
        const { value } = decoding instanceof Promise ? await decoding : decoding;
        latest.set(key, {
          destinationId: value.destinationId,
          firstAt: new Date(value.firstAt).toISOString(),
          profileId,
          via: 'webhook',
        });
      }
    },
  });
  const exported = options.clickhouse ? await exportRecipientsOf(options.clickhouse(), [...byHash.keys()]) : [];
  return [
    ...[...latest.values()].filter((received): received is DestinationReceived => received !== null),
    ...exported.map((r) => ({
      destinationId: r.destinationId,
      firstAt: r.firstAt,
      profileId: byHash.get(r.profileIdHash)!,
      via: 'export' as const,
    })),
  ].sort((a, b) => a.firstAt.localeCompare(b.firstAt) || a.destinationId.localeCompare(b.destinationId));
}
