import pino from 'pino';
import type { ProfileUpdate, SegmentChange } from '../../schemas';
import type { KafkaClient } from '../../services/common/kafka/client';
import { topics } from '../../services/common/kafka/topics';
import { AvroCodec, SchemaRegistryClient } from '../../services/common/registry';

/** The activator's topics (see test/support/activator.ts, which makes them for tests). */
export interface UpstreamTopics {
  readonly changes: string;
  readonly updates: string;
  readonly deliveries: string;
  readonly dlq: string;
}

/** Writes what the materializer would: profile updates and segment changes, Avro, keyed by profile id. */
export class UpstreamProducer {
  private constructor(
    private readonly codec: AvroCodec,
    private readonly names: UpstreamTopics,
    private readonly producer: ReturnType<KafkaClient['producer']>,
  ) {}

  static async connect(
    kafka: KafkaClient,
    names: UpstreamTopics,
    registryUrl: string = process.env.KUMIKI_TEST_SCHEMA_REGISTRY_URL ??
      process.env.SCHEMA_REGISTRY_URL ??
      'http://127.0.0.1:8081/apis/ccompat/v7',
  ): Promise<UpstreamProducer> {
    const registry = new SchemaRegistryClient({ url: registryUrl, logger: pino({ level: 'warn' }) });
    const codec = new AvroCodec(
      registry,
      await registry.registerAll([
        { ...topics.segmentChanges, name: names.changes },
        { ...topics.profileUpdates, name: names.updates },
        { ...topics.destinationDeadLetters, name: names.dlq },
        { ...topics.deliveryAttempts, name: names.deliveries },
      ]),
    );
    const producer = kafka.producer();
    await producer.connect();
    return new UpstreamProducer(codec, names, producer);
  }

  get avro(): AvroCodec {
    return this.codec;
  }

  async profiles(updates: readonly ProfileUpdate[]): Promise<void> {
    await this.producer.send(
      this.names.updates,
      updates.map((u) => ({ key: u.profileId, value: this.codec.encode(this.names.updates, u) })),
    );
  }

  async changes(changes: readonly SegmentChange[]): Promise<void> {
    await this.producer.send(
      this.names.changes,
      changes.map((c) => ({ key: c.profileId, value: this.codec.encode(this.names.changes, c) })),
    );
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

export function profileUpdate(profileId: string, fields: Partial<ProfileUpdate> = {}): ProfileUpdate {
  return {
    profileId,
    mergedInto: null,
    traits: JSON.stringify({ first_name: `Name of ${profileId}` }),
    identifiers: [{ type: 'email', value: `${profileId}@example.com` }],
    rfm: null,
    predictions: null,
    consent: { marketing: true },
    segments: [],
    firstSeen: null,
    lastSeen: null,
    updatedAt: Date.now(),
    ...fields,
  };
}

let changeClock = Date.UTC(2026, 0, 1);

export function segmentChange(profileId: string, fields: Partial<SegmentChange> = {}): SegmentChange {
  changeClock += 1;
  return {
    segmentId: 'seg_test',
    segmentName: 'Test segment',
    profileId,
    change: 'entered',
    at: changeClock,
    evaluation: 'incremental',
    reason: null,
    ...fields,
  };
}
