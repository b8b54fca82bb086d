import type { Destination } from '../../../schemas';
import { errorMessage } from '../../common/errors';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import type { DestinationCatalog } from '../destinations/destination-catalog';

export interface ExportSchedulerDeps {
  readonly catalog: Pick<DestinationCatalog, 'all'>;
  readonly run: (destination: Destination, slot: number) => Promise<unknown>;
  readonly enabled: boolean;
  readonly logger: Logger;
  readonly checkEveryMs?: number;
  readonly now?: () => number;
}

/**
 * Runs scheduled exports: an active export destination with `intervalMinutes` is due once its
 * current time slot (now divided by the interval) has no export yet, i.e. when its last export
 * read the membership before the slot began. Due exports run one after another; a failed one
 * is tried again at the next check. Every instance with ACTIVATOR_SCHEDULED_EXPORTS runs them;
 * a slot run twice writes the same file name and the same webhook-id (see ExportRunner).
 */
export class ExportScheduler implements Component {
  readonly name = 'export-scheduler';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: ExportSchedulerDeps) {}

  async start(): Promise<void> {
    if (!this.deps.enabled) return;
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.runDue());
    }, this.deps.checkEveryMs ?? 30_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  isHealthy(): boolean {
    return true;
  }

  isReady(): boolean {
    return true;
  }

  private async runDue(): Promise<void> {
    const now = (this.deps.now ?? Date.now)();
    for (const destination of this.deps.catalog.all()) {
      if (this.stopped) return;
      const minutes = destination.export?.intervalMinutes;
      if (destination.type !== 'export' || destination.status !== 'active' || !minutes) continue;
      const intervalMs = minutes * 60_000;
      const slot = Math.floor(now / intervalMs);
      if (destination.lastExport !== null && destination.lastExport.asOf >= slot * intervalMs) continue;
      try {
        await this.deps.run(destination, slot);
      } catch (error) {
        this.deps.logger.warn({ destination: destination.id, error: errorMessage(error) }, 'scheduled export failed');
      }
    }
  }
}
