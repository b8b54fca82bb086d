import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isOurProcess, logTail, spawnManaged, stopProcessGroup } from '../../../../services/cli/local/child-process';
import { waitFor } from '../../../support/wait-for';

/** Real processes, because the point is signals and process groups. */
describe('managed child processes', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kumiki-child-'));
  const start = (name: string, script: string) =>
    spawnManaged({
      name,
      command: process.execPath,
      args: ['-e', script, name],
      env: { PATH: process.env.PATH ?? '' },
      cwd: dir,
      logFile: path.join(dir, `${name}.log`),
      match: name,
    });

  it('stops a process that honours SIGTERM within its grace', async () => {
    // 'up' is printed only once the handler is in place, so the signal cannot arrive before it.
    const proc = await start(
      'polite',
      "process.on('SIGTERM', () => { console.log('bye'); process.exit(0); }); console.log('up'); setInterval(() => {}, 1000);",
    );
    await waitForLog(proc.logFile, 'up');
    expect(isOurProcess(proc.pid, 'polite')).toBe(true);
    expect(await stopProcessGroup(proc.pid, proc.match, 5_000)).toBe('stopped');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(await logTail(proc.logFile, proc.logOffset)).toBe('up\nbye');
  });

  it('kills a process that ignores SIGTERM once the grace has passed, children included', async () => {
    const proc = await start(
      'stubborn',
      "require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000);",
    );
    await waitForLog(proc.logFile, 'up');
    const started = Date.now();
    expect(await stopProcessGroup(proc.pid, proc.match, 300)).toBe('killed');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect((await proc.exited).signal).toBe('SIGKILL');
    // The grandchild was in the same process group, so nothing is left in it once the
    // orphan is reaped (which a busy machine may take a moment to do).
    await waitFor(() => expect(() => process.kill(-proc.pid, 0)).toThrow(), { timeoutMs: 5_000, intervalMs: 50 });
  });

  it('does not signal a pid whose command line is not the recorded one', async () => {
    expect(await stopProcessGroup(process.pid, 'no-such-marker-in-our-cmdline', 100)).toBe(
      os.platform() === 'linux' ? 'not-running' : 'killed',
    );
  });

  it('fails to spawn a missing program with an error, not a silent exit', async () => {
    await expect(
      spawnManaged({
        name: 'missing',
        command: path.join(dir, 'no-such-binary'),
        args: [],
        env: {},
        cwd: dir,
        logFile: path.join(dir, 'missing.log'),
        match: 'x',
      }),
    ).rejects.toThrow(/ENOENT/);
  });
});

async function waitForLog(file: string, text: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if ((await logTail(file, 0)).includes(text)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${file} never said ${text}`);
}
