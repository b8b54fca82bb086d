import { errorMessage } from '../../common/errors';
import { logTail, stopProcessGroup, type ManagedProcess } from './child-process';
import { componentOrder, forgetComponent, recordComponent, stopOrder, type ComponentName } from './run-state';
import { ComponentFailedError, StartAbortedError } from '../errors';
import { waitUntil } from './probes';
import type { CliLog } from './cli-log';

/** One piece of the running stack; `process` is null when we reuse something we did not start. */
export interface StartedComponent {
  readonly name: ComponentName;
  readonly address: string;
  readonly process: ManagedProcess | null;
}

/** How long each component gets between SIGTERM and SIGKILL. */
export const stopGraceMs: Readonly<Record<ComponentName, number>> = {
  collector: 20_000,
  'identity-stitcher': 20_000,
  'profile-materializer': 20_000,
  activator: 20_000,
  registry: 15_000,
  // A controlled shutdown writes a clean-shutdown marker, which spares a log recovery next start.
  kafka: 30_000,
};

/**
 * The components this process started, in start order, mirrored to run/ as they come up
 * so `kumiki down` can finish the job if we die. `stop()` is safe to call twice and stops
 * in reverse order, one line per step; `forceStop()` (a second Ctrl-C) cuts every grace short.
 */
export class LocalStack {
  private readonly started: StartedComponent[] = [];
  private stopping: Promise<void> | undefined;
  private forced = false;
  private recording: Promise<void> = Promise.resolve();

  constructor(
    private readonly runDir: string,
    private readonly log: CliLog,
    private readonly supervisorPid: number | null,
  ) {}

  /** Records are written one at a time: Kafka and the registry start concurrently. */
  add(component: StartedComponent): Promise<void> {
    this.started.push(component);
    const proc = component.process;
    const record = {
      name: component.name,
      pid: proc?.pid ?? null,
      match: proc?.match ?? null,
      address: component.address,
      logFile: proc?.logFile ?? null,
    };
    this.recording = this.recording
      .catch(() => undefined)
      .then(() => recordComponent(this.runDir, record, this.supervisorPid));
    return this.recording;
  }

  /** In start order, whatever order they actually came up in. */
  get components(): readonly StartedComponent[] {
    return [...this.started].sort((a, b) => componentOrder.indexOf(a.name) - componentOrder.indexOf(b.name));
  }

  /** Lets the CLI exit with the children still running (`--detach`). */
  release(): void {
    for (const component of this.started) component.process?.release();
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  forceStop(): Promise<void> {
    this.forced = true;
    return this.stop();
  }

  private async stopAll(): Promise<void> {
    await this.recording.catch(() => undefined);
    for (const component of stopOrder(this.started)) {
      const proc = component.process;
      if (!proc) {
        this.log.info(`leaving ${component.name} at ${component.address} running (not started by this kumiki)`);
        await forgetComponent(this.runDir, component.name);
        continue;
      }
      await stopComponent(
        { name: component.name, pid: proc.pid, match: proc.match },
        this.runDir,
        this.log,
        () => this.forced,
      );
    }
  }
}

/**
 * Stops one recorded process (SIGTERM, then SIGKILL after its grace), logs one line and
 * forgets its record. Used by the supervising `up` and by `kumiki down` alike.
 */
export async function stopComponent(
  component: { name: ComponentName; pid: number; match: string | null },
  runDir: string,
  log: CliLog,
  forced: () => boolean = () => false,
): Promise<void> {
  const started = Date.now();
  try {
    const outcome = await stopProcessGroup(component.pid, component.match, forced() ? 0 : stopGraceMs[component.name], {
      force: forced,
    });
    const took = ((Date.now() - started) / 1000).toFixed(1);
    if (outcome === 'killed') log.warn(`killed ${component.name} (pid ${component.pid}) after ${took} s`);
    else if (outcome === 'stopped') log.info(`stopped ${component.name} (pid ${component.pid}) in ${took} s`);
    else log.info(`${component.name} (pid ${component.pid}) was not running`);
    await forgetComponent(runDir, component.name);
  } catch (error) {
    log.warn(`could not stop ${component.name} (pid ${component.pid}): ${errorMessage(error)}`);
  }
}

/**
 * Waits until `isReady` says yes. Fails with the tail of the component's log when it exits
 * first or does not get ready in time, and with StartAbortedError on Ctrl-C.
 */
export async function awaitReady(
  proc: ManagedProcess,
  isReady: () => Promise<boolean>,
  options: { timeoutMs: number; signal?: AbortSignal; what: string },
): Promise<void> {
  let exit: { code: number | null; signal: string | null } | undefined;
  void proc.exited.then((result) => (exit = result));
  const outcome = await waitUntil(isReady, {
    timeoutMs: options.timeoutMs,
    intervalMs: 300,
    ...(options.signal ? { signal: options.signal } : {}),
    failed: () => (exit ? (exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`) : undefined),
  });
  if (outcome === 'ready') return;
  if (outcome === 'aborted') throw new StartAbortedError(`start of ${proc.name} interrupted`, { component: proc.name });
  const reason =
    outcome === 'timeout' ? `was not ready after ${Math.round(options.timeoutMs / 1000)} s` : outcome.failed;
  const tail = await logTail(proc.logFile, proc.logOffset);
  throw new ComponentFailedError(
    `${proc.name} ${reason} (waiting for ${options.what}). Last lines of ${proc.logFile}:\n${indent(tail || '(empty)')}`,
    { component: proc.name },
  );
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
