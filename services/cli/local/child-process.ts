import { spawn } from 'node:child_process';
import { promises as fsp, closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { sleep } from '../../common/retry';

/**
 * Every long-running child of `kumiki up` is the leader of its own process group
 * (`detached: true`): a Ctrl-C in the terminal reaches only the CLI, which then stops the
 * children in order, and a whole group (the JVM and anything it forked) can be signalled at
 * once. Output goes straight to a log file, so a child outlives the CLI in `--detach` mode
 * and never blocks on a full pipe.
 */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** A substring of the command line, checked before signalling a pid read back from disk. */
  readonly match: string;
  readonly logFile: string;
  /** Size of the log when the process started, so failures show only this run's lines. */
  readonly logOffset: number;
  /** Resolves when the process exits; never rejects. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  hasExited(): boolean;
  /** Lets the CLI exit while the child keeps running (`--detach`). */
  release(): void;
}

export interface SpawnOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly logFile: string;
  readonly match: string;
}

export async function spawnManaged(options: SpawnOptions): Promise<ManagedProcess> {
  // The logs folder may not exist yet (external Kafka and registry: nothing else made it).
  mkdirSync(path.dirname(options.logFile), { recursive: true });
  const logOffset = fileSize(options.logFile);
  const fd = openSync(options.logFile, 'a');
  try {
    const child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env: { ...options.env },
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    let done = false;
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.once('exit', (code, signal) => {
        done = true;
        resolve({ code, signal });
      });
      // A spawn failure (ENOENT) emits 'error' and never 'exit'.
      child.once('error', () => {
        done = true;
        resolve({ code: null, signal: null });
      });
    });
    // Spawn errors are reported asynchronously; wait one turn so a missing binary throws here.
    const spawnError = await new Promise<Error | undefined>((resolve) => {
      child.once('error', resolve);
      child.once('spawn', () => resolve(undefined));
    });
    if (spawnError || child.pid === undefined) {
      throw spawnError ?? new Error(`could not start ${options.command}`);
    }
    return {
      name: options.name,
      pid: child.pid,
      match: options.match,
      logFile: options.logFile,
      logOffset,
      exited,
      hasExited: () => done,
      release: () => child.unref(),
    };
  } finally {
    closeSync(fd);
  }
}

/**
 * True when `pid` is alive and is still the process we started: pids are reused (after a
 * reboot a pid file may name an unrelated process), so on Linux the command line must
 * contain `match`. Zombies have an empty command line and count as gone.
 */
export function isOurProcess(pid: number, match: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return true; // no /proc (macOS): trust the pid
  }
  if (cmdline.trim() === '') return false;
  return match === null || cmdline.includes(match);
}

export type StopOutcome = 'not-running' | 'stopped' | 'killed';

/**
 * SIGTERM to the process group, SIGKILL once `graceMs` has passed. Afterwards anything
 * left in the group (a grandchild) is killed too, so nothing is orphaned.
 */
export async function stopProcessGroup(
  pid: number,
  match: string | null,
  graceMs: number,
  options: { force?: () => boolean } = {},
): Promise<StopOutcome> {
  if (!isOurProcess(pid, match)) {
    signalGroup(pid, 'SIGKILL'); // leftovers of a leader that already died
    return 'not-running';
  }
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && !options.force?.()) {
    if (!isOurProcess(pid, match)) {
      signalGroup(pid, 'SIGKILL');
      return 'stopped';
    }
    await sleep(100);
  }
  signalGroup(pid, 'SIGKILL');
  for (let i = 0; i < 50 && isOurProcess(pid, match); i++) await sleep(100);
  return 'killed';
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      if (signal === 'SIGKILL') return; // group gone: nothing left to kill
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** The last `lines` lines a process wrote to its log since `fromOffset`. */
export async function logTail(file: string, fromOffset: number, lines = 30): Promise<string> {
  try {
    const content = await fsp.readFile(file);
    const text = content.subarray(Math.min(fromOffset, content.length)).toString('utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
