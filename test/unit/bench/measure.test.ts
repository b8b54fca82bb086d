import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { countArgument, cpuNow, cpuSecondsOf, localBrokerPid } from '../../../bench/support/measure';
import { loadCliConfig } from '../../../services/cli/config';
import { writeStack } from '../../../services/cli/local/run-state';

/** Spins until this process has used `seconds` more CPU (by CPU time, not wall time: a busy machine only slows it). */
function burnCpu(seconds: number): void {
  const used = (): number => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  };
  const until = used() + seconds;
  while (used() < until);
}

describe('benchmark measurements', () => {
  it("reads a process's CPU time from /proc as the process itself counts it", () => {
    burnCpu(0.3);
    const own = process.cpuUsage();
    const fromProc = cpuSecondsOf(process.pid);
    expect(fromProc).toBeGreaterThan(0.25);
    expect(Math.abs(fromProc - (own.user + own.system) / 1e6)).toBeLessThan(0.1);
  });

  it('gives NaN for a process that is not there', () => {
    expect(cpuSecondsOf(2 ** 22 + 12_345)).toBeNaN();
  });

  it("finds the broker recorded under KUMIKI_HOME only while it runs, and samples its CPU beside this process's", async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'kumiki-measure-'));
    try {
      const env = { ...process.env, KUMIKI_HOME: home };
      expect(await localBrokerPid(env)).toBeUndefined(); // nothing recorded
      const record = (pid: number) => ({
        startedAt: new Date().toISOString(),
        supervisorPid: null,
        components: [{ name: 'kafka' as const, pid, match: 'node', address: '127.0.0.1:9092', logFile: null }],
      });
      // This test's own process stands in for a broker: its command line holds the match.
      await writeStack(loadCliConfig(env).paths.run, record(process.pid));
      expect(await localBrokerPid(env)).toBe(process.pid);
      const before = cpuNow(process.pid);
      burnCpu(0.2);
      const after = cpuNow(process.pid);
      expect(after.self - before.self).toBeGreaterThan(0.15);
      expect(after.broker - before.broker).toBeGreaterThan(0.1);
      expect(cpuNow(undefined).broker).toBeNaN();
      await writeStack(loadCliConfig(env).paths.run, record(2 ** 22 + 12_345)); // gone
      expect(await localBrokerPid(env)).toBeUndefined();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('reads counts from the command line, and names the argument it cannot use', () => {
    const argv = process.argv;
    try {
      process.argv = ['node', 'bench.js', '5000'];
      expect(countArgument(2, 'events', 200_000)).toBe(5000);
      expect(countArgument(3, 'rounds', 3)).toBe(3);
      for (const bad of ['0', '-2', '1.5', 'many']) {
        process.argv = ['node', 'bench.js', '5000', bad];
        expect(() => countArgument(3, 'rounds', 3)).toThrow(
          `rounds (argument 2) must be a positive whole number, got "${bad}"`,
        );
      }
    } finally {
      process.argv = argv;
    }
  });
});
