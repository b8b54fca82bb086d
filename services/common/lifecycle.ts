import type { Logger } from './logger';
import { errorMessage } from './errors';

/**
 * Every long-lived part of a service (a client, a consumer, the HTTP server) is a Component.
 * `start()` may take long (waiting for a dependency); `stop()` must be safe to call at any
 * time, including while `start()` is still running.
 */
export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Alive and not wedged; false makes /health answer 503. */
  isHealthy(): boolean;
  /** Able to do its job now (dependencies reachable); false makes /ready answer 503. */
  isReady(): boolean;
}

export type ServiceState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface ServiceOptions {
  readonly name: string;
  readonly logger: Logger;
  /** Upper bound for the whole stop; what has not stopped by then is abandoned. */
  readonly graceMs: number;
  /**
   * The HTTP face. It starts first, so /health answers while dependencies connect, and it
   * stops first, so intake ends before the producers and consumers behind it flush.
   */
  readonly edge?: (service: Service) => Component;
}

/**
 * Starts components in order and stops them in reverse, once.
 *
 * Shutdown is a small state machine: the first `stop()` moves to 'stopping' and every later
 * call returns the same promise. Each component gets its share of the grace period; one that
 * overruns is logged and skipped so the rest still stop. The exit code is 1 when the stop was
 * caused by an error, 0 for a requested stop.
 */
export class Service {
  private state: ServiceState = 'idle';
  private readonly started: Component[] = [];
  private stopping: Promise<number> | undefined;
  private readonly edge: Component | undefined;

  constructor(
    private readonly options: ServiceOptions,
    private readonly components: readonly Component[],
  ) {
    this.edge = options.edge?.(this);
  }

  get status(): ServiceState {
    return this.state;
  }

  /** Starting counts as healthy: a service waiting for Kafka is alive, just not ready. */
  isHealthy(): boolean {
    if (this.state === 'starting') return true;
    return this.state === 'running' && this.components.every((c) => c.isHealthy());
  }

  isReady(): boolean {
    return this.state === 'running' && this.components.every((c) => c.isReady());
  }

  /** Per-component readiness, for /ready's body. */
  readiness(): Record<string, boolean> {
    return Object.fromEntries(this.components.map((c) => [c.name, this.state === 'running' && c.isReady()]));
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`service ${this.options.name} already ${this.state}`);
    this.state = 'starting';
    const order = this.edge ? [this.edge, ...this.components] : this.components;
    for (const component of order) {
      if (this.state !== 'starting') return; // a stop arrived while we were starting
      this.options.logger.info({ component: component.name }, 'starting component');
      this.started.push(component);
      await component.start();
    }
    if (this.state === 'starting') {
      this.state = 'running';
      this.options.logger.info('service running');
    }
  }

  stop(reason: { error?: unknown; signal?: string } = {}): Promise<number> {
    this.stopping ??= this.stopAll(reason);
    return this.stopping;
  }

  private async stopAll(reason: { error?: unknown; signal?: string }): Promise<number> {
    this.state = 'stopping';
    const { logger, graceMs } = this.options;
    if (reason.error) logger.error({ err: reason.error }, 'stopping because of an error');
    else logger.info({ signal: reason.signal }, 'stopping');
    const deadline = Date.now() + graceMs;
    const edge = this.edge;
    const inner = this.started.filter((c) => c !== edge).reverse();
    const order = edge && this.started.includes(edge) ? [edge, ...inner] : inner;
    for (const component of order) {
      const remaining = Math.max(100, deadline - Date.now());
      const outcome = await boundedStop(component, remaining);
      if (outcome === 'stopped') logger.info({ component: component.name }, 'component stopped');
      else logger.warn({ component: component.name, outcome }, 'component did not stop cleanly');
    }
    this.state = 'stopped';
    logger.info('service stopped');
    return reason.error ? 1 : 0;
  }
}

async function boundedStop(component: Component, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`timed out after ${ms} ms`), ms);
  });
  try {
    return await Promise.race([component.stop().then(() => 'stopped'), timeout]);
  } catch (error) {
    return `failed: ${errorMessage(error)}`;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Process glue for a service's main.ts: start, stop on SIGTERM/SIGINT or a fatal error,
 * flush the logger, exit with the service's code. A second signal forces exit.
 */
export function runUntilSignalled(service: Service, logger: Logger): void {
  let signals = 0;
  const finish = (code: number): void => {
    logger.flush();
    // Also as exitCode: if the event loop empties before the unref'd timer fires, Node exits
    // on its own, and must not exit 0 after an error.
    process.exitCode = code;
    // Give the flushed logger a moment to reach its destination before the process ends.
    setTimeout(() => process.exit(code), 50).unref();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      finish(130);
      return;
    }
    void service.stop({ signal }).then(finish);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('uncaughtException', (error) => void service.stop({ error }).then(finish));
  process.on('unhandledRejection', (error) => void service.stop({ error }).then(finish));
  service.start().catch((error: unknown) => void service.stop({ error }).then(finish));
}
