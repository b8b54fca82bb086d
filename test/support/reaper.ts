import { spawn, type ChildProcess } from 'node:child_process';

/**
 * What the run started is killed when the run's process ends, however it ends: Ctrl-C, a CI
 * timeout's SIGTERM or SIGKILL, a crash, jest tearing down. A signal handler alone cannot do it
 * (a SIGKILL runs none, and jest's sandboxed `process` may not see signals at all), so a small
 * detached watcher holds a pipe from this process: told each pid as it starts and ends, it
 * SIGKILLs the ones still there (their whole process group when they lead one, as the broker
 * does) once the pipe closes, which happens when this process is gone.
 */
export interface Reaper {
  /** Kill `pid` (and its group) if it is still there when the run ends. */
  watch(pid: number | undefined): void;
  /** `pid` has ended: its number may be reused. */
  forget(pid: number | undefined): void;
}

const WATCHER = `
const pids = new Set();
let pending = '';
process.stdin.on('data', (chunk) => {
  pending += chunk;
  for (let end = pending.indexOf('\\n'); end >= 0; end = pending.indexOf('\\n')) {
    const line = pending.slice(0, end);
    pending = pending.slice(end + 1);
    const pid = Number(line.slice(1));
    if (line[0] === '+') pids.add(pid);
    else pids.delete(pid);
  }
});
process.stdin.on('close', () => {
  for (const pid of pids)
    for (const target of [-pid, pid])
      for (const signal of ['SIGCONT', 'SIGKILL'])
        try { process.kill(target, signal); } catch {}
  process.exit(0);
});
`;

let watcher: ChildProcess | undefined;

function send(line: string): void {
  watcher ??= startWatcher();
  watcher.stdin?.write(`${line}\n`);
}

function startWatcher(): ChildProcess {
  const child = spawn(process.execPath, ['-e', WATCHER], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  child.unref();
  // The pipe must not keep this process alive; it closes with it.
  (child.stdin as unknown as { _handle?: { unref?: () => void } })._handle?.unref?.();
  return child;
}

export const reaper: Reaper = {
  watch: (pid) => {
    if (pid !== undefined) send(`+${pid}`);
  },
  forget: (pid) => {
    if (pid !== undefined) send(`-${pid}`);
  },
};

/** Watches a child from its start to its exit. */
export function reaped<T extends ChildProcess>(child: T): T {
  reaper.watch(child.pid);
  child.once('exit', () => reaper.forget(child.pid));
  return child;
}
