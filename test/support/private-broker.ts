import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCliConfig } from '../../services/cli/config';
import { stopProcessGroup, type ManagedProcess } from '../../services/cli/local/child-process';
import { type SecureListener, startKafka } from '../../services/cli/local/kafka-broker';
import { probeKafka } from '../../services/cli/local/probes';
import { localPaths } from '../../services/common/paths';
import { freePort } from './ports';
import { waitFor } from './wait-for';

/**
 * A single-node Kafka of a test's own (the jars and settings `kumiki up` uses, its own ports
 * and data directory), for tests that stop and restart the broker: the shared one must stay up.
 * `restart()` keeps the data.
 */
export interface PrivateBroker {
  readonly address: string;
  stop(): Promise<void>;
  /** SIGKILL: a crash, with whatever it had not written yet lost as a real one would lose it. */
  kill(): Promise<void>;
  /** Stops it for good and removes its data directory. */
  close(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  /** The running broker's process (the leader of its process group), if it runs. */
  pid(): number | undefined;
}

export async function startPrivateBroker(options: { secureListener?: SecureListener } = {}): Promise<PrivateBroker> {
  // A port found free can be taken before the JVM binds it (by another test file's broker, or as
  // the source port of an outgoing connection), and the broker exits: the first start tries again
  // with fresh ports and a fresh directory.
  for (let attempt = 1; ; attempt++) {
    const broker = privateBroker(options, await freePort(), await freePort());
    try {
      await broker.start();
      return broker;
    } catch (error) {
      await broker.close();
      if (attempt === 3 || !(error instanceof BrokerExitedError)) throw error;
    }
  }
}

class BrokerExitedError extends Error {
  constructor() {
    super('private broker exited');
  }
}

function privateBroker(
  options: { secureListener?: SecureListener },
  port: number,
  controllerPort: number,
): PrivateBroker {
  const environment: Record<string, string> = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const home = mkdtempSync(path.join(os.tmpdir(), 'kumiki-broker-'));
  const paths = localPaths(home, loadCliConfig(process.env).paths.cache);
  const address = `127.0.0.1:${port}`;
  const quiet = { info: () => undefined, warn: () => undefined };
  let running: ManagedProcess | undefined;

  const broker: PrivateBroker = {
    address,
    pid: () => (running && !running.hasExited() ? running.pid : undefined),
    async start() {
      const started = await startKafka({
        paths,
        port,
        controllerPort,
        javaCommand: 'java',
        env: environment,
        log: quiet,
        ...(options.secureListener ? { secureListener: options.secureListener } : {}),
      });
      running = started;
      await waitFor(
        async () => {
          if (started.hasExited()) throw new BrokerExitedError();
          if (!(await probeKafka([address], 5_000)).reachable) throw new Error('private broker not reachable yet');
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
    },
    async stop() {
      if (running && !running.hasExited()) await stopProcessGroup(running.pid, running.match, 15_000);
      running = undefined;
    },
    async kill() {
      if (running && !running.hasExited()) await stopProcessGroup(running.pid, running.match, 0);
      running = undefined;
    },
    async restart() {
      await broker.stop();
      await broker.start();
    },
    async close() {
      await broker.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
  return broker;
}
