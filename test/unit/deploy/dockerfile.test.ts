/**
 * The Dockerfile cannot be built here (no Docker engine), so it is checked by construction:
 * parsed into stages and instructions and held against the build layout and docker-compose.yml.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { dotEnv, env, kumikiServices, read, root, service } from './compose-file';

// ---- the Dockerfile, as instructions grouped by stage ----

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name?: string;
  instructions: Instruction[];
}

function dockerfileStages(text: string): Stage[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ base: match?.[1] ?? args, name: match?.[2], instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

const dockerfile = dockerfileStages(read('Dockerfile'));
const runtimeStage = dockerfile[dockerfile.length - 1]!;
const of = (stage: Stage, keyword: string): string[] =>
  stage.instructions.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);

/** `COPY [--flags] src… dest` as its flags, sources and destination. */
function copyArgs(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const from = words.find((word) => word.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((word) => !word.startsWith('--'));
  return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] ?? '' };
}

const dockerignore = read('.dockerignore')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));

/** Whether .dockerignore keeps a top-level path out of the build context (simple globs only). */
function ignored(relative: string): boolean {
  const top = relative.replace(/^\.\//, '').split('/')[0]!;
  return dockerignore.some((pattern) => {
    const regex = new RegExp(
      `^${pattern
        .replace(/\/$/, '')
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')}$`,
    );
    return regex.test(top) || regex.test(relative);
  });
}

describe('Dockerfile', () => {
  const build = dockerfile.find((stage) => stage.name === 'build');
  const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

  it('builds on node 20 and runs a slim node 20 runtime as a non-root user', () => {
    expect(build?.base).toMatch(/^node:20(-|$)/);
    expect(runtimeStage.base).toMatch(/^node:20-.*slim$/);
    expect(of(runtimeStage, 'USER')).toEqual(['node']);
  });

  it('installs with npm ci, compiles with npm run build and keeps only production dependencies', () => {
    const runs = of(build!, 'RUN').join(' && ');
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toMatch(/npm run build\b/);
    expect(runs).toMatch(/npm (prune|ci) [^&]*--omit=dev/);
    expect(packageJson.scripts.build).toBeDefined();
  });

  it('does not let npm ci run the root `prepare` script before the sources are copied', () => {
    const order = build!.instructions;
    const sourcesAt = order.findIndex(
      (instruction) => instruction.keyword === 'COPY' && copyArgs(instruction.args).sources.includes('.'),
    );
    expect(sourcesAt).toBeGreaterThan(-1);
    const earlyInstalls = order
      .slice(0, sourcesAt)
      .filter((instruction) => instruction.keyword === 'RUN' && /npm ci\b/.test(instruction.args));
    expect(earlyInstalls.length).toBeGreaterThan(0);
    if (packageJson.scripts.prepare) {
      for (const install of earlyInstalls) expect(install.args).toContain('--ignore-scripts');
    }
  });

  it('copies into the build only files that exist and that .dockerignore lets through', () => {
    for (const args of of(build!, 'COPY')) {
      for (const source of copyArgs(args).sources) {
        expect([source, existsSync(path.join(root, source))]).toEqual([source, true]);
        if (source !== '.') expect([source, ignored(source)]).toEqual([source, false]);
      }
    }
    for (const mustStayOut of ['node_modules', 'dist', '.kumiki', '.env', '.git']) {
      expect([mustStayOut, ignored(mustStayOut)]).toEqual([mustStayOut, true]);
    }
  });

  it('puts dist/services/<service>/main.js, built from services/<service>/main.ts, where the compose commands look', () => {
    const tsconfig = JSON.parse(read('tsconfig.json')) as { compilerOptions: { outDir: string; rootDir: string } };
    const tsconfigBuild = JSON.parse(read('tsconfig.build.json')) as {
      extends?: string;
      include: string[];
      compilerOptions?: { outDir?: string; rootDir?: string };
    };
    const outDir = tsconfigBuild.compilerOptions?.outDir ?? tsconfig.compilerOptions.outDir;
    const rootDir = tsconfigBuild.compilerOptions?.rootDir ?? tsconfig.compilerOptions.rootDir;
    expect(packageJson.scripts.build).toContain('tsconfig.build.json');
    expect(tsconfigBuild.extends).toBe('./tsconfig.json');
    expect(path.normalize(rootDir)).toBe('.');
    expect(tsconfigBuild.include).toContain('services');

    const workdir = of(runtimeStage, 'WORKDIR').pop() ?? '/';
    const copied = of(runtimeStage, 'COPY').map(copyArgs);
    const distCopy = copied.find(
      (copy) => copy.from === 'build' && copy.sources.some((source) => path.posix.basename(source) === outDir),
    );
    expect(distCopy).toBeDefined();
    expect(path.posix.resolve(workdir, distCopy!.dest)).toBe(path.posix.join(workdir, outDir));

    for (const name of kumikiServices) {
      const command = service(name).command as string[];
      const compiled = path.posix
        .join(outDir, path.posix.relative(rootDir, `services/${name}/main.ts`))
        .replace(/\.ts$/, '.js');
      expect(command[1]).toBe(compiled);
      expect(statSync(path.join(root, 'services', name)).isDirectory()).toBe(true);
    }
  });

  it('copies into the runtime only build outputs or files the repository has', () => {
    const buildWorkdir = of(build!, 'WORKDIR').pop() ?? '/';
    const produced = new Set(['dist', 'node_modules', 'package.json']);
    for (const copy of of(runtimeStage, 'COPY').map(copyArgs)) {
      expect(copy.from).toBe('build');
      for (const source of copy.sources) {
        const relative = path.posix.relative(buildWorkdir, source);
        const exists = produced.has(relative) || (existsSync(path.join(root, relative)) && !ignored(relative));
        expect([relative, exists]).toEqual([relative, true]);
      }
    }
  });

  it('gives the services a writable KUMIKI_HOME, the one compose sets', () => {
    const home = env('collector', dotEnv).KUMIKI_HOME ?? '';
    expect(path.posix.isAbsolute(home)).toBe(true);
    for (const name of kumikiServices) expect(env(name, dotEnv).KUMIKI_HOME).toBe(home);
    const runs = of(runtimeStage, 'RUN').join(' && ');
    expect(runs).toContain(`mkdir -p ${home}`);
    expect(runs).toMatch(new RegExp(`chown node:node ${home.replace(/[/.]/g, '\\$&')}`));
  });
});
