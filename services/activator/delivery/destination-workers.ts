import type { Destination } from '../../../schemas';
import { errorMessage } from '../../common/errors';
import type { KafkaAdmin } from '../../common/kafka/client';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import type { DestinationCatalog } from '../destinations/destination-catalog';
import { groupIdOf } from '../destinations/destination-store';

export interface DestinationWorkersDeps {
  readonly catalog: Pick<DestinationCatalog, 'all' | 'onChange'>;
  readonly admin: () => KafkaAdmin;
  readonly groupPrefix: string;
  readonly topicsOf: (destination: Destination) => string[];
  readonly createWorker: (destination: Destination, groupId: string, topics: string[]) => Worker;
  readonly onPaused?: (id: string, paused: boolean) => void;
  readonly logger: Logger;
}

export interface Worker {
  start(): Promise<void>;
  update(destination: Destination): void;
  stop(): Promise<void>;
}

/**
 * Keeps one delivery worker per active webhook destination on this instance, following the
 * catalog: a new destination starts one, a pause or a deletion stops it, a new epoch (a replay,
 * other topics) replaces it with one on the new group, any other change is applied to the
 * running worker. Changes to one destination are applied one at a time, in order. A group left
 * behind is deleted once no instance reads through it any more (the last one out succeeds).
 */
export class DestinationWorkers implements Component {
  readonly name = 'destination-workers';
  private readonly running = new Map<string, { worker: Worker; epoch: number; topics: string }>();
  private readonly chains = new Map<string, Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly deps: DestinationWorkersDeps) {}

  async start(): Promise<void> {
    this.unsubscribe = this.deps.catalog.onChange((id, destination) => this.enqueue(id, destination));
    for (const destination of this.deps.catalog.all()) this.enqueue(destination.id, destination);
    await Promise.all([...this.chains.values()]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await Promise.all([...this.chains.values()]);
    await Promise.all([...this.running.values()].map(({ worker }) => worker.stop()));
    this.running.clear();
  }

  isHealthy(): boolean {
    return true;
  }

  isReady(): boolean {
    return !this.stopped;
  }

  /** Ids of the destinations delivering on this instance. */
  active(): string[] {
    return [...this.running.keys()];
  }

  private enqueue(id: string, destination: Destination | undefined): void {
    const previous = this.chains.get(id) ?? Promise.resolve();
    const next = previous
      .then(() => (this.stopped ? undefined : this.apply(id, destination)))
      .catch((error: unknown) =>
        this.deps.logger.error({ destination: id, error: errorMessage(error) }, 'could not apply a destination change'),
      );
    this.chains.set(id, next);
    void next.finally(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    });
  }

  private async apply(id: string, destination: Destination | undefined): Promise<void> {
    const current = this.running.get(id);
    const wanted = destination && destination.type === 'webhook' && destination.status === 'active';
    this.deps.onPaused?.(id, destination?.status === 'paused');
    const topics = destination ? this.deps.topicsOf(destination).join(',') : '';
    if (current && wanted && current.epoch === destination.epoch && current.topics === topics) {
      current.worker.update(destination);
      return;
    }
    if (current) {
      this.running.delete(id);
      await current.worker.stop();
      if (!destination || current.epoch !== destination.epoch)
        await this.deleteGroup(groupIdOf(this.deps.groupPrefix, id, current.epoch));
    }
    if (!wanted || topics === '') return;
    const groupId = groupIdOf(this.deps.groupPrefix, id, destination.epoch);
    const worker = this.deps.createWorker(destination, groupId, topics.split(','));
    this.running.set(id, { worker, epoch: destination.epoch, topics });
    await worker.start();
  }

  private async deleteGroup(groupId: string): Promise<void> {
    try {
      const left = await this.deps.admin().deleteGroups([groupId]);
      if (left.length === 0) this.deps.logger.info({ groupId }, 'deleted the consumer group of an earlier epoch');
    } catch (error) {
      this.deps.logger.debug(
        { groupId, error: errorMessage(error) },
        'consumer group not deleted (still in use elsewhere)',
      );
    }
  }
}
