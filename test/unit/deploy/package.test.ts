import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  main: string;
  bin: Record<string, string>;
};

describe('package.json', () => {
  it('names as `main` the build of a source that exists and exports the direct producer', async () => {
    expect(manifest.main).toMatch(/^dist\/.*\.js$/);
    const source = path.join(root, manifest.main.replace(/^dist\//, '').replace(/\.js$/, '.ts'));
    expect(fs.existsSync(source)).toBe(true);
    const library = (await import(source)) as Record<string, unknown>;
    expect(Object.keys(library).sort()).toEqual(['DirectProducer', 'toEvent']);
  });

  it('has a `kumiki` command that exists', () => {
    expect(fs.existsSync(path.join(root, manifest.bin.kumiki!))).toBe(true);
  });
});
