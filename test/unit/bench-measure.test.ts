import { cpuSecondsOf } from '../../bench/support/measure';

describe('benchmark measurements', () => {
  it('reads a process\'s CPU time from /proc as the process itself counts it', () => {
    const until = Date.now() + 300;
    while (Date.now() < until); // burn a third of a second of CPU
    const own = process.cpuUsage();
    const fromProc = cpuSecondsOf(process.pid);
    expect(fromProc).toBeGreaterThan(0.25);
    expect(Math.abs(fromProc - (own.user + own.system) / 1e6)).toBeLessThan(0.1);
  });

  it('gives NaN for a process that is not there', () => {
    expect(cpuSecondsOf(2 ** 22 + 12_345)).toBeNaN();
  });
});
