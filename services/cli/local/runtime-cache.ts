import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { RuntimeFetchError } from '../errors';
import { requireMaven } from './prerequisites';
import type { CliLog } from './cli-log';

/**
 * Kafka and the registry are plain Maven artifacts, fetched once into the cache
 * (KUMIKI_CACHE, default ~/.cache/kumiki) by running Maven on the pom under infra/.
 *
 * Each runtime lives in `<cache>/<name>-<hash of its pom>/`; a `.complete` marker is written
 * last, so a start that finds the marker runs no Maven and needs no network, and an
 * interrupted fetch is simply redone. Editing the pom (a version bump) changes the hash and
 * fetches the new runtime beside the old one.
 */
export interface RuntimeSpec {
  /** For messages: "Kafka 4.1.1 jars". */
  readonly label: string;
  readonly name: string;
  readonly pomFile: string;
  /** Maven goal that puts the runtime into `-DoutputDirectory`. */
  readonly goal: string;
}

const marker = '.complete';

export async function ensureRuntime(
  spec: RuntimeSpec,
  cacheDir: string,
  options: { env: Readonly<Record<string, string>>; log: CliLog },
): Promise<string> {
  const pom = await fs.readFile(spec.pomFile);
  const dir = path.join(cacheDir, `${spec.name}-${createHash('sha256').update(pom).digest('hex').slice(0, 12)}`);
  const content = path.join(dir, 'content');
  if (existsSync(path.join(dir, marker))) return content;

  await requireMaven(options.env);
  options.log.info(`fetching ${spec.label} from Maven Central (first run only)…`);
  const started = Date.now();
  // Fetch into a private directory and rename it into place, so two starts racing never
  // see each other's half-written files.
  const staging = `${dir}.partial-${process.pid}`;
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { recursive: true });
  // Maven runs on a copy of the pom so its `target/` lands in the cache, not in the repository.
  await fs.writeFile(path.join(staging, 'pom.xml'), pom);
  const logFile = path.join(staging, 'fetch.log');
  const code = await runMaven(
    ['-B', '-q', '-f', path.join(staging, 'pom.xml'), spec.goal, `-DoutputDirectory=${path.join(staging, 'content')}`],
    staging,
    logFile,
    options.env,
  );
  if (code !== 0) {
    const tail = (await fs.readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-15).join('\n');
    throw new RuntimeFetchError(
      `fetching ${spec.label} failed (mvn exited ${code}); is Maven Central reachable?\n${tail}`,
      { runtime: spec.name },
    );
  }
  await fs.rm(path.join(staging, 'target'), { recursive: true, force: true });
  await fs.writeFile(path.join(staging, marker), `${new Date().toISOString()}\n`);
  try {
    await fs.rename(staging, dir);
  } catch (error) {
    await fs.rm(staging, { recursive: true, force: true });
    // Another start finished first; theirs is just as good.
    if (!existsSync(path.join(dir, marker))) throw error;
  }
  options.log.info(`fetched ${spec.label} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return content;
}

function runMaven(
  args: string[],
  cwd: string,
  logFile: string,
  env: Readonly<Record<string, string>>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    void fs.open(logFile, 'w').then((handle) => {
      const child = spawn('mvn', args, { cwd, env: { ...env }, stdio: ['ignore', handle.fd, handle.fd] });
      child.once('error', (error) => void handle.close().then(() => reject(error)));
      child.once('exit', (code) => void handle.close().then(() => resolve(code ?? 1)));
    }, reject);
  });
}
