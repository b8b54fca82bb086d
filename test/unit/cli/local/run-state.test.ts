import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  clearStack,
  forgetComponent,
  liveComponents,
  parseStack,
  readStack,
  recordComponent,
  stopOrder,
  type ComponentRecord,
} from '../../../../services/cli/local/run-state';

const record = (name: ComponentRecord['name'], pid: number | null, match: string | null = null): ComponentRecord => ({
  name,
  pid,
  match,
  address: `addr-${name}`,
  logFile: null,
});

/** A pid that certainly belongs to no running process: one that has just exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid;
}

describe('run state', () => {
  let runDir: string;
  beforeEach(() => {
    runDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'kumiki-run-')), 'run');
  });

  it('records components one by one, with a plain pid file for each process we started', async () => {
    await recordComponent(runDir, record('kafka', 4242, 'kafka.Kafka'), 99);
    await recordComponent(runDir, record('registry', null), 99);
    const stack = await readStack(runDir);
    expect(stack?.supervisorPid).toBe(99);
    expect(stack?.components.map((c) => [c.name, c.pid])).toEqual([
      ['kafka', 4242],
      ['registry', null],
    ]);
    expect(readFileSync(path.join(runDir, 'kafka.pid'), 'utf8')).toBe('4242\n');
    expect(existsSync(path.join(runDir, 'registry.pid'))).toBe(false);
  });

  it('forgets a stopped component and removes everything once none is left', async () => {
    await recordComponent(runDir, record('kafka', 4242), null);
    await recordComponent(runDir, record('collector', 4343), null);
    await forgetComponent(runDir, 'collector');
    expect((await readStack(runDir))?.components.map((c) => c.name)).toEqual(['kafka']);
    expect(existsSync(path.join(runDir, 'collector.pid'))).toBe(false);
    await forgetComponent(runDir, 'kafka');
    expect(await readStack(runDir)).toBeUndefined();
  });

  it('rebuilds the record from pid files when stack.json is gone', async () => {
    mkdirSync(runDir, { recursive: true });
    writeFileSync(path.join(runDir, 'kafka.pid'), '123\n');
    writeFileSync(path.join(runDir, 'collector.pid'), 'garbage\n');
    const stack = await readStack(runDir);
    expect(stack?.components).toEqual([{ name: 'kafka', pid: 123, match: 'kafka.Kafka', address: '', logFile: null }]);
    await clearStack(runDir);
    expect(await readStack(runDir)).toBeUndefined();
  });

  it('treats a corrupt or foreign stack.json as no record, and drops unknown components', () => {
    expect(parseStack('{not json')).toBeUndefined();
    expect(parseStack('{"components": 3}')).toBeUndefined();
    const parsed = parseStack(
      JSON.stringify({ supervisorPid: 'x', components: [record('kafka', 1), { name: 'postgres', pid: 2 }] }),
    );
    expect(parsed?.supervisorPid).toBeNull();
    expect(parsed?.components.map((c) => c.name)).toEqual(['kafka']);
  });

  it('counts as live only processes that exist and still run the recorded command', () => {
    const stack = {
      startedAt: '',
      supervisorPid: null,
      components: [
        record('kafka', process.pid, 'node'),
        record('registry', deadPid(), null),
        record('collector', null),
        record('identity-stitcher', process.pid, 'kafka.Kafka'),
      ],
    };
    // On Linux the command line is checked, so our own pid under someone else's marker is not theirs.
    const expected = existsSync('/proc/self/cmdline') ? ['kafka'] : ['kafka', 'identity-stitcher'];
    expect(liveComponents(stack).map((c) => c.name)).toEqual(expected);
  });

  it('stops in reverse start order: intake first, Kafka last', () => {
    const order = stopOrder([
      record('kafka', 1),
      record('collector', 2),
      record('registry', 3),
      record('profile-materializer', 4),
      record('identity-stitcher', 5),
    ]);
    expect(order.map((c) => c.name)).toEqual([
      'collector',
      'identity-stitcher',
      'profile-materializer',
      'registry',
      'kafka',
    ]);
  });
});
