import type { BrokerControl } from './broker-control';
import { clock, type Fault } from './fault-schedule';
import {
  sessionTimeoutMs,
  specOf,
  type Instance,
  type PipelineUnderTest,
  type ServiceName,
} from './pipeline-under-test';

/**
 * Carries out a fault schedule on a running pipeline, and supervises it meanwhile.
 *
 * One lane per target (each service, the broker) takes that target's faults in order, each at
 * its moment (or as soon as the one before it is done). A killed service is started again at
 * once, as a supervisor would; nothing waits for it to be ready, so the next kill may find it
 * starting up. A process that exits without being killed by the harness is restarted too, and
 * reported: no fault here excuses a service giving up on its own (a zombie that is fenced is
 * expected to stop, and is counted apart).
 */
export interface FaultCounts {
  readonly kills: Record<string, number>;
  /** Kills that landed inside a transaction held open by the service's test hook. */
  readonly aimedKills: Record<string, number>;
  brokerBounces: number;
  zombiesFenced: number;
  /** Processes that exited without being killed, zombies not fenced, aims that never found their moment. */
  readonly problems: string[];
}

export interface FaultRunnerOptions {
  readonly pipeline: PipelineUnderTest;
  readonly broker: BrokerControl;
  readonly log: (line: string) => void;
  /** Bound of every wait for a moment or a process (generous: the machine may be slow). */
  readonly waitMs: number;
}

export class FaultRunner {
  readonly counts: FaultCounts = { kills: {}, aimedKills: {}, brokerBounces: 0, zombiesFenced: 0, problems: [] };
  private readonly expectedExits = new WeakSet<Instance>();
  private startedAt = Date.now();

  constructor(private readonly options: FaultRunnerOptions) {}

  /** Takes over the instances already running: from now on an exit of theirs is noticed. */
  supervise(service: ServiceName): void {
    const instance = this.options.pipeline.instance(service);
    if (instance) this.watch(instance);
  }

  /** Runs every fault at its moment (ms after `startedAt`); resolves when all are done. */
  async run(schedule: readonly Fault[], startedAt: number): Promise<void> {
    this.startedAt = startedAt;
    const lanes = new Map<string, Fault[]>();
    for (const fault of schedule) {
      const target = fault.kind === 'broker' ? 'broker' : fault.service;
      lanes.set(target, [...(lanes.get(target) ?? []), fault]);
    }
    await Promise.all(
      [...lanes.values()].map(async (faults) => {
        for (const fault of faults) {
          const wait = startedAt + fault.atMs - Date.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          await this.apply(fault);
        }
      }),
    );
  }

  /** `[mm:ss.s]`: now, in the run's time. */
  private now(): string {
    return `[${clock(Date.now() - this.startedAt)}]`;
  }

  private async apply(fault: Fault): Promise<void> {
    switch (fault.kind) {
      case 'kill':
        await this.oldEnough(fault.service as ServiceName, fault.minAgeMs);
        if (fault.aimed) await this.aimedKill(fault.service as ServiceName);
        else {
          await this.kill(fault.service as ServiceName, 'at a random moment');
          await this.start(fault.service as ServiceName);
        }
        return;
      case 'zombie':
        return this.zombie(fault.service as ServiceName, fault.stoppedMs);
      case 'broker': {
        const { broker, log } = this.options;
        log(
          `${this.now()} broker ${fault.how === 'crash' ? 'SIGKILL' : 'stop'}; back in ${(fault.downMs / 1000).toFixed(1)} s`,
        );
        await broker.stop(fault.how);
        await new Promise((resolve) => setTimeout(resolve, fault.downMs));
        await broker.start();
        this.counts.brokerBounces += 1;
        log(`${this.now()} broker back (bounce ${this.counts.brokerBounces})`);
        return;
      }
    }
  }

  /** Waits for `instance` to print `pattern` (its hook holds a transaction open then), or to exit, within the bound. */
  private async moment(instance: Instance, pattern: RegExp): Promise<'moment' | 'exited by itself' | 'timed out'> {
    const exited = instance.process.exit.then(() => 'exited by itself' as const);
    const printed = instance.printed(pattern, 0, this.options.waitMs).then(
      () => 'moment' as const,
      () => 'timed out' as const,
    );
    return Promise.race([printed, exited]);
  }

  /** Waits until the running process of `service` has lived `ms`. */
  private async oldEnough(service: ServiceName, ms: number): Promise<void> {
    const instance = this.options.pipeline.instance(service);
    if (instance) await sleep(instance.startedAt + ms - Date.now());
  }

  private async start(service: ServiceName, env: Record<string, string> = {}, newPort = false): Promise<Instance> {
    const instance = await this.options.pipeline.spawn(service, env, newPort);
    this.watch(instance);
    return instance;
  }

  private watch(instance: Instance): void {
    void instance.process.exit.then(({ code, signal }) => {
      if (this.options.pipeline.stopping || this.expectedExits.has(instance)) return;
      this.counts.problems.push(
        `${instance.service} #${instance.number} exited by itself (code ${code}, signal ${signal})`,
      );
      this.options.log(
        `${instance.service} #${instance.number} exited by itself (code ${code}, signal ${signal}); restarting it`,
      );
      if (this.options.pipeline.instance(instance.service) === instance) void this.start(instance.service);
    });
  }

  private async kill(service: ServiceName, how: string): Promise<void> {
    const instance = this.options.pipeline.instance(service);
    if (!instance) throw new Error(`${service} is not running`);
    this.expectedExits.add(instance);
    const { child } = instance.process;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await instance.process.exit;
    this.counts.kills[service] = (this.counts.kills[service] ?? 0) + 1;
    this.options.log(`${this.now()} SIGKILL ${service} #${instance.number} (pid ${child.pid}) ${how}`);
  }

  /**
   * A kill inside an open transaction: an instance started with the service's hook holds its
   * transaction open when it prints the moment; it is killed then (or kills itself there).
   */
  private async aimedKill(service: ServiceName): Promise<void> {
    const aimed = specOf(service).aimed;
    if (!aimed) throw new Error(`${service} has no hook to aim a kill at`);
    await this.kill(service, 'to start one that holds a transaction open');
    const armed = await this.start(service, aimed.env);
    this.expectedExits.add(armed);
    if (aimed.killsItself) {
      // Nothing else SIGKILLs it: a SIGKILL is the hook's (its last log line may not be written).
      const exit = await Promise.race([armed.process.exit, sleep(this.options.waitMs).then(() => undefined)]);
      if (exit?.signal === 'SIGKILL') {
        this.counts.kills[service] = (this.counts.kills[service] ?? 0) + 1;
        this.counts.aimedKills[service] = (this.counts.aimedKills[service] ?? 0) + 1;
        this.options.log(`${this.now()} ${service} #${armed.number} killed itself inside a transaction (test hook)`);
      } else {
        this.counts.problems.push(
          `${service} #${armed.number}: the aimed kill did not happen (${JSON.stringify(exit)})`,
        );
        if (!exit) await this.kill(service, 'after its aimed kill did not happen');
      }
    } else {
      const reached = await this.moment(armed, aimed.moment);
      if (reached === 'moment') {
        await this.kill(service, 'inside an open transaction');
        this.counts.aimedKills[service] = (this.counts.aimedKills[service] ?? 0) + 1;
      } else {
        this.counts.problems.push(`${service} #${armed.number}: ${reached} before a transaction came to aim at`);
        if (reached === 'timed out') await this.kill(service, 'after no transaction came to aim at');
      }
    }
    await this.start(service);
  }

  /**
   * A zombie: an instance holding a transaction open is SIGSTOPped, a replacement starts (which
   * fences it and takes its partitions once its session lapses), and after `stoppedMs` the old
   * one resumes where it was: about to commit. It must be refused and stop.
   */
  private async zombie(service: ServiceName, stoppedMs: number): Promise<void> {
    const { log, waitMs, pipeline } = this.options;
    const spec = specOf(service);
    if (!spec.aimed || !spec.fenced) throw new Error(`${service} cannot be made a zombie`);
    await this.kill(service, 'to start one that will become a zombie');
    const zombie = await this.start(service, spec.aimed.env);
    this.expectedExits.add(zombie);
    const reached = await this.moment(zombie, spec.aimed.moment);
    if (reached === 'exited by itself') {
      this.counts.problems.push(`${service} #${zombie.number}: exited by itself before it could become a zombie`);
      await this.start(service);
      return;
    }
    const moment = reached === 'moment';
    zombie.process.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    log(
      `${this.now()} SIGSTOP ${service} #${zombie.number} ${moment ? 'inside an open transaction' : '(no transaction came)'}`,
    );
    await this.start(service, {}, true);
    await pipeline.ready(service, waitMs).catch(() => undefined);
    await sleep(Math.max(stoppedMs, sessionTimeoutMs + 2_000) - (Date.now() - stoppedAt));
    zombie.process.child.kill('SIGCONT');
    log(`${this.now()} SIGCONT ${service} #${zombie.number} after ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s`);
    const exited = await Promise.race([zombie.process.exit.then(() => true), sleep(waitMs).then(() => false)]);
    if (exited && spec.fenced.test(zombie.process.output())) {
      this.counts.zombiesFenced += 1;
      log(`${this.now()} ${service} #${zombie.number} was fenced and stopped (zombie ${this.counts.zombiesFenced})`);
    } else {
      this.counts.problems.push(
        `${service} #${zombie.number}: the zombie was not fenced (${exited ? 'exited without the fencing error' : 'still running'})`,
      );
      zombie.process.child.kill('SIGKILL');
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
