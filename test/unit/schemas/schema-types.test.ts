import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..', '..');
const script = path.join(root, 'scripts', 'generate-schema-types.js');

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [script, ...args], { cwd: root, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('schemas/types.generated.ts', () => {
  it('is current with schemas/*.avsc (npm run gen:schemas regenerates it)', () => {
    const result = run('--check');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  describe('generator', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-gen-'));
      for (const file of fs.readdirSync(path.join(root, 'schemas')).filter((name) => name.endsWith('.avsc'))) {
        fs.copyFileSync(path.join(root, 'schemas', file), path.join(dir, file));
      }
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('maps Avro to TypeScript: records, enums, nullable, long, bytes, maps, arrays', () => {
      const out = path.join(dir, 'types.ts');
      execFileSync(process.execPath, [script, '--schemas', dir, '--out', out]);
      const text = fs.readFileSync(out, 'utf8');
      const block = (name: string): string => {
        const start = text.indexOf(`export interface ${name} {`);
        expect(start).toBeGreaterThanOrEqual(0);
        return text.slice(start, text.indexOf('\n}\n', start) + 3);
      };
      expect(text).toContain("export type EventType = 'track' | 'identify' | 'page' | 'screen' | 'group' | 'alias';");
      expect(block('Event')).toMatch(/\n {2}userId: string \| null;\n/);
      expect(block('Event')).toMatch(/\n {2}timestamp: number;\n/);
      expect(block('Event')).toMatch(/\n {2}consent: Record<string, boolean>;\n/);
      expect(block('DeadLetter')).toMatch(/\n {2}originalKey: Buffer \| null;\n[\s\S]*\n {2}originalValue: Buffer;\n/);
      expect(block('ProfileUpdate')).toMatch(/\n {2}rfm: Rfm \| null;\n[\s\S]*\n {2}segments: string\[\];\n/);
      expect(block('StitchedEvent')).toMatch(/\n {2}identifiers: Identifier\[\];\n[\s\S]*\n {2}event: Event;\n/);
      expect(block('Rfm')).toMatch(/\n {2}monetary: number;\n/);
      expect(text).toContain(
        '  /** Unique id of the event, chosen by the producer; used for deduplication end to end. */\n  messageId: string;',
      );
      // Each named type is declared once, however many files use it.
      expect(text.match(/export interface Identifier \{/g)).toHaveLength(1);
    });

    it('--check fails with a clear message when the file is stale, and passes once regenerated', () => {
      const out = path.join(dir, 'types.ts');
      expect(run('--schemas', dir, '--out', out, '--check')).toMatchObject({
        status: 1,
        stderr: expect.stringContaining('types.ts is missing'),
      });
      expect(run('--schemas', dir, '--out', out).status).toBe(0);
      expect(run('--schemas', dir, '--out', out, '--check').status).toBe(0);

      const file = path.join(dir, 'SegmentChange.avsc');
      const schema = JSON.parse(fs.readFileSync(file, 'utf8')) as { fields: unknown[] };
      schema.fields.push({ name: 'note', type: ['null', 'string'], default: null, doc: 'A new field.' });
      fs.writeFileSync(file, JSON.stringify(schema));
      const stale = run('--schemas', dir, '--out', out, '--check');
      expect(stale.status).toBe(1);
      expect(stale.stderr).toMatch(/types\.ts is out of date with the \.avsc files: run `npm run gen:schemas`/);
    });

    it('refuses schemas that avsc cannot parse', () => {
      fs.writeFileSync(
        path.join(dir, 'Bad.avsc'),
        JSON.stringify({ type: 'record', name: 'Bad', namespace: 'kumiki.v1', fields: [{ name: 'x', type: 'strng' }] }),
      );
      const result = run('--schemas', dir, '--out', path.join(dir, 'types.ts'));
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/Bad\.avsc: type kumiki\.v1\.strng is not defined/);
    });
  });
});
