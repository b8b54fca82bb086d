import type { Destination } from '../../../schemas';
import { schema } from '../../../schemas';
import type { EventProducer, KafkaAdmin, KafkaClient } from '../../common/kafka/client';
import type { TopicTail } from '../../common/kafka/topic-tail';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import type { AvroCodec } from '../../common/registry/avro-codec';

export interface DestinationCatalogDeps {
  readonly kafka: KafkaClient;
  readonly admin: () => KafkaAdmin;
  readonly producer: () => Pick<EventProducer, 'send'>;
  readonly codec: () => AvroCodec;
  readonly topic: string;
  readonly logger: Logger;
}

export type CatalogListener = (id: string, destination: Destination | undefined) => void;

/**
 * Every destination, in memory on every instance, from the compacted kumiki.destinations:
 * the topic is the store (it survives restarts and is shared by every host), this is its
 * table. Writes go to the topic and return once this instance has read them back, so an API
 * answer reflects its own change; the other instances see it a moment later. Concurrent writes
 * to one destination are last-writer-wins (the topic's order decides).
 */
export class DestinationCatalog implements Component {
  readonly name = 'destination-catalog';
  private readonly destinations = new Map<string, Destination>();
  private readonly listeners = new Set<CatalogListener>();
  private tail: TopicTail | undefined;
  private ready = false;

  constructor(private readonly deps: DestinationCatalogDeps) {}

  async start(): Promise<void> {
    const reader = schema('Destination').type;
    this.tail = this.deps.kafka.tail({
      topic: this.deps.topic,
      groupIdPrefix: 'kumiki-activator-destinations',
      logger: this.deps.logger,
      onRecords: async (messages) => {
        for (const message of messages) {
          const id = message.key?.toString('utf8');
          if (!id) continue;
          if (message.value === null) {
            this.apply(id, undefined);
            continue;
          }
          const decoded = await this.deps.codec().decodeNowOrLater<Destination>(message.value, reader);
          this.apply(id, decoded.value);
        }
      },
    });
    await this.tail.start();
    await this.readBack();
    this.ready = true;
  }

  async stop(): Promise<void> {
    this.ready = false;
    await this.tail?.stop();
  }

  isHealthy(): boolean {
    return true;
  }

  isReady(): boolean {
    return this.ready;
  }

  get(id: string): Destination | undefined {
    return this.destinations.get(id);
  }

  all(): Destination[] {
    return [...this.destinations.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  /** Called for every change, after the table has it; a listener must not throw. */
  onChange(listener: CatalogListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes a destination (or deletes it with `undefined`) and waits until this instance has read it back. */
  async write(id: string, destination: Destination | undefined): Promise<void> {
    const value = destination === undefined ? null : this.deps.codec().encode(this.deps.topic, destination);
    await this.deps.producer().send(this.deps.topic, [{ key: id, value }]);
    await this.readBack();
  }

  /** Waits until the table holds everything written to the topic before now. */
  private async readBack(): Promise<void> {
    const ends = await this.deps.admin().endOffsets(this.deps.topic);
    await this.tail!.caughtUpTo(ends);
  }

  private apply(id: string, destination: Destination | undefined): void {
    if (destination === undefined) this.destinations.delete(id);
    else this.destinations.set(id, destination);
    for (const listener of this.listeners) listener(id, destination);
  }
}
