import { readFileSync, rmSync } from 'node:fs';
import { stopProcessGroup, type ManagedProcess } from '../../services/cli/local/child-process';
import { waitFor } from './wait-for';

/**
 * Waits until a server a test started answers `probe` with 200, and gives back how to stop it
 * and remove its directory `home`; if it never does (or exits), stops it and throws with the end
 * of its log.
 */
export async function awaitPeer(options: {
  readonly running: ManagedProcess;
  readonly home: string;
  readonly probe: () => Promise<number>;
  readonly timeoutMs: number;
}): Promise<() => Promise<void>> {
  const { running, home } = options;
  const close = async (): Promise<void> => {
    if (!running.hasExited()) await stopProcessGroup(running.pid, running.match, 15_000);
    rmSync(home, { recursive: true, force: true });
  };
  const logTail = (): string => readFileSync(running.logFile, 'utf8').slice(-2_000);
  try {
    await waitFor(
      async () => {
        if (running.hasExited()) throw new Error(`${running.name} exited: ${logTail()}`);
        const status = await options.probe();
        if (status !== 200) throw new Error(`${running.name} answered ${status}`);
      },
      { timeoutMs: options.timeoutMs, intervalMs: 300 },
    );
  } catch (error) {
    await close();
    throw error;
  }
  return close;
}
