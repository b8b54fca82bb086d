import { spawn } from 'node:child_process';
import { probeKafka } from '../../services/cli/local/probes';
import { reaper } from '../support/reaper';
import { startPrivateBroker, type PrivateBroker } from '../support/private-broker';
import { waitFor } from '../support/wait-for';

/**
 * The broker the chaos run bounces. By default a private single-node broker started for the run
 * (kumiki's own jars and settings, its own ports and data: the shared one is never touched).
 * On a cluster of one's own, commands do it: CHAOS_BROKER_STOP_COMMAND and
 * CHAOS_BROKER_START_COMMAND (say `docker compose stop kafka` / `docker compose start kafka`),
 * or no bounces at all when they are not given.
 */
export interface BrokerControl {
  readonly brokers: string;
  readonly canBounce: boolean;
  /** Takes the broker away: `restart` stops it cleanly, `crash` kills it. */
  stop(how: 'restart' | 'crash'): Promise<void>;
  /** Brings it back and waits until it answers. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function privateBrokerControl(): Promise<BrokerControl> {
  const broker: PrivateBroker = await startPrivateBroker();
  reaper.watch(broker.pid());
  // Forgotten before it goes: a pid of the past may be someone else's by the end of the run.
  const away = <T>(task: () => Promise<T>): Promise<T> => {
    reaper.forget(broker.pid());
    return task();
  };
  return {
    brokers: broker.address,
    canBounce: true,
    stop: (how) => away(() => (how === 'crash' ? broker.kill() : broker.stop())),
    start: async () => {
      await broker.start();
      reaper.watch(broker.pid());
    },
    close: () => away(() => broker.close()),
  };
}

export function commandBrokerControl(
  brokers: string,
  commands: { readonly stop?: string; readonly start?: string },
): BrokerControl {
  const run = (command: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn(command, { shell: true, stdio: 'inherit' });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`\`${command}\` exited with ${code}`))));
    });
  const { stop, start } = commands;
  return {
    brokers,
    canBounce: stop !== undefined && start !== undefined,
    stop: async () => {
      if (stop) await run(stop);
    },
    start: async () => {
      if (start) await run(start);
      await waitFor(
        async () => {
          if (!(await probeKafka(brokers.split(','), 5_000)).reachable) throw new Error('Kafka not reachable yet');
        },
        { timeoutMs: 300_000, intervalMs: 1_000 },
      );
    },
    close: async () => undefined,
  };
}
