import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isOurProcess } from './child-process';

/**
 * What a running local stack looks like on disk, so `kumiki down` and `kumiki status` work
 * from another terminal and after the CLI itself died:
 *   run/<component>.pid  plain pid of each process we started (for humans and scripts)
 *   run/stack.json       the authoritative record: pids, command-line markers, URLs
 * Components we reuse or that are external have `pid: null` and are never stopped by us.
 */
export interface ComponentRecord {
  readonly name: ComponentName;
  readonly pid: number | null;
  /** Substring of the command line that proves `pid` is still ours. */
  readonly match: string | null;
  /** Where it answers: `host:port` for Kafka, a URL for the others. */
  readonly address: string;
  readonly logFile: string | null;
}

export interface StackRecord {
  readonly startedAt: string;
  /** The foreground `kumiki up` supervising the stack; null when detached or not running. */
  readonly supervisorPid: number | null;
  readonly components: readonly ComponentRecord[];
}

/** Start order: infrastructure, then services downstream first so intake opens last. */
export const componentOrder = [
  'kafka',
  'registry',
  'profile-materializer',
  'activator',
  'identity-stitcher',
  'collector',
] as const;
export type ComponentName = (typeof componentOrder)[number];

/** Stop order is the reverse: the collector closes intake before anything it feeds goes. */
export function stopOrder<T extends { name: ComponentName }>(components: readonly T[]): T[] {
  return [...components].sort((a, b) => componentOrder.indexOf(b.name) - componentOrder.indexOf(a.name));
}

const stackFile = (runDir: string): string => path.join(runDir, 'stack.json');
const pidFile = (runDir: string, name: string): string => path.join(runDir, `${name}.pid`);

export async function readStack(runDir: string): Promise<StackRecord | undefined> {
  let raw: string;
  try {
    raw = await fs.readFile(stackFile(runDir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fromPidFiles(runDir);
    throw error;
  }
  return parseStack(raw);
}

/** Accepts only the shape we write; anything else is treated as no record at all. */
export function parseStack(raw: string): StackRecord | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const stack = parsed as Partial<StackRecord>;
  if (!stack || !Array.isArray(stack.components)) return undefined;
  const components = stack.components.filter(
    (c): c is ComponentRecord =>
      !!c && (componentOrder as readonly string[]).includes(c.name) && (c.pid === null || Number.isInteger(c.pid)),
  );
  return {
    startedAt: typeof stack.startedAt === 'string' ? stack.startedAt : new Date(0).toISOString(),
    supervisorPid: Number.isInteger(stack.supervisorPid) ? (stack.supervisorPid as number) : null,
    components,
  };
}

/** stack.json lost (or never written because the CLI died early): rebuild from pid files. */
async function fromPidFiles(runDir: string): Promise<StackRecord | undefined> {
  const components: ComponentRecord[] = [];
  for (const name of componentOrder) {
    let raw: string;
    try {
      raw = await fs.readFile(pidFile(runDir, name), 'utf8');
    } catch {
      continue;
    }
    const pid = Number.parseInt(raw.trim(), 10);
    if (Number.isInteger(pid) && pid > 0)
      components.push({ name, pid, match: defaultMatch(name), address: '', logFile: null });
  }
  return components.length > 0 ? { startedAt: new Date(0).toISOString(), supervisorPid: null, components } : undefined;
}

/** What the command line of each component contains (see `isOurProcess`). */
export function defaultMatch(name: ComponentName): string {
  if (name === 'kafka') return 'kafka.Kafka';
  if (name === 'registry') return 'apicurio-registry-app';
  return `${name}${path.sep}main.js`;
}

export async function writeStack(runDir: string, stack: StackRecord): Promise<void> {
  await fs.mkdir(runDir, { recursive: true });
  const target = stackFile(runDir);
  const temporary = `${target}.${process.pid}.tmp`;
  await fs.writeFile(temporary, `${JSON.stringify(stack, null, 2)}\n`);
  await fs.rename(temporary, target); // readers never see half a file
  for (const component of stack.components) {
    if (component.pid !== null) await fs.writeFile(pidFile(runDir, component.name), `${component.pid}\n`);
  }
}

/** Adds or replaces one component's record, keeping the others. */
export async function recordComponent(
  runDir: string,
  component: ComponentRecord,
  supervisorPid: number | null,
): Promise<void> {
  const current = (await readStack(runDir)) ?? { startedAt: new Date().toISOString(), supervisorPid, components: [] };
  await writeStack(runDir, {
    startedAt: current.startedAt,
    supervisorPid,
    components: [...current.components.filter((c) => c.name !== component.name), component],
  });
}

export async function forgetComponent(runDir: string, name: ComponentName): Promise<void> {
  await fs.rm(pidFile(runDir, name), { force: true });
  const current = await readStack(runDir);
  if (!current) return;
  const components = current.components.filter((c) => c.name !== name);
  if (components.length === 0) return clearStack(runDir);
  await writeStack(runDir, { ...current, components });
}

export async function clearStack(runDir: string): Promise<void> {
  await fs.rm(stackFile(runDir), { force: true });
  for (const name of componentOrder) await fs.rm(pidFile(runDir, name), { force: true });
}

/** The recorded processes of ours that are still alive. */
export function liveComponents(stack: StackRecord | undefined): ComponentRecord[] {
  return (stack?.components ?? []).filter((c) => c.pid !== null && isOurProcess(c.pid, c.match));
}
