#!/usr/bin/env node
/**
 * `npm run lint` part: no source file over MAX_LINES lines, so that every module stays one job a
 * reader can hold in mind. Checked: the TypeScript and JavaScript under services/, schemas/,
 * bench/, scripts/, test/ and bin/. Exempt: generated code, and the identity graph's core (one
 * data structure whose invariants are easier to check in one place).
 */
const fs = require('node:fs');
const path = require('node:path');

const MAX_LINES = 400;
const ROOTS = ['services', 'schemas', 'bench', 'scripts', 'test', 'bin'];
const EXEMPT = new Set(['schemas/types.generated.ts', 'services/identity-stitcher/identity/identity-graph.ts']);
const root = path.resolve(__dirname, '..');

function* sources(dir) {
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const relative = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(relative);
    else if (/\.(ts|js|cjs|mjs)$/.test(entry.name)) yield relative;
  }
}

const tooLong = [];
for (const dir of ROOTS.filter((d) => fs.existsSync(path.join(root, d)))) {
  for (const file of sources(dir)) {
    if (EXEMPT.has(file)) continue;
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    const lines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
    if (lines > MAX_LINES) tooLong.push(`${file}: ${lines} lines`);
  }
}
if (tooLong.length > 0) {
  process.stderr.write(
    `files over ${MAX_LINES} lines (split them by role; scripts/check-file-sizes.js says what is exempt):\n  ${tooLong.join('\n  ')}\n`,
  );
  process.exit(1);
}
process.stdout.write(`no file over ${MAX_LINES} lines\n`);
