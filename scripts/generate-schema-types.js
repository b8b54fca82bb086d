#!/usr/bin/env node

/**
 * Writes schemas/types.generated.ts from schemas/*.avsc, so the TypeScript types and the
 * topic schemas have one source. Plain Node, no build step.
 *
 *   node scripts/generate-schema-types.js            write the file
 *   node scripts/generate-schema-types.js --check    exit 1 if the committed file is stale
 *   [--schemas <dir>] [--out <file>]                 other locations (used by the tests)
 *
 * Files are parsed with avsc in dependency order through one shared registry, exactly as
 * schemas/index.ts does at runtime, so a schema that the services cannot load cannot be
 * generated either.
 */
const fs = require('node:fs');
const path = require('node:path');
const avro = require('avsc');

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const TS_PRIMITIVE = {
  null: 'null',
  boolean: 'boolean',
  int: 'number',
  long: 'number',
  float: 'number',
  double: 'number',
  bytes: 'Buffer',
  string: 'string',
};

function qualify(name, namespace) {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`;
}

/** Every named definition and every by-name reference in one schema file. */
function scan(node, namespace, found) {
  if (typeof node === 'string') {
    if (!PRIMITIVES.has(node)) found.references.add(qualify(node, namespace));
  } else if (Array.isArray(node)) {
    for (const branch of node) scan(branch, namespace, found);
  } else if (node && typeof node === 'object') {
    let inner = namespace;
    if (typeof node.name === 'string' && ['record', 'error', 'enum', 'fixed'].includes(node.type)) {
      const fullName = qualify(node.name, node.namespace ?? namespace);
      found.defined.set(fullName, node);
      inner = fullName.slice(0, fullName.lastIndexOf('.')) || undefined;
    }
    if (node.type === 'array') scan(node.items, inner, found);
    else if (node.type === 'map') scan(node.values, inner, found);
    else if (node.type === 'record' || node.type === 'error')
      for (const field of node.fields ?? []) scan(field.type, inner, found);
    else if (typeof node.type !== 'string' || !['enum', 'fixed'].includes(node.type)) scan(node.type, inner, found);
  }
}

/** Reads schemas/*.avsc and orders them so every file comes after the files it references. */
function loadSchemaFiles(dir) {
  const files = fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.avsc'))
    .sort();
  const entries = files.map((file) => {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const found = { defined: new Map(), references: new Set() };
    scan(raw, undefined, found);
    const fullName = qualify(raw.name, raw.namespace);
    return { file, raw, fullName, defined: found.defined, references: found.references };
  });
  const owner = new Map();
  for (const entry of entries) for (const name of entry.defined.keys()) owner.set(name, entry);
  const ordered = [];
  const state = new Map();
  const visit = (entry, trail) => {
    if (state.get(entry) === 'done') return;
    if (state.get(entry) === 'visiting')
      throw new Error(`schemas reference each other in a cycle: ${[...trail, entry.file].join(' -> ')}`);
    state.set(entry, 'visiting');
    for (const name of entry.references) {
      if (entry.defined.has(name)) continue;
      const dependency = owner.get(name);
      if (!dependency) throw new Error(`${entry.file}: type ${name} is not defined in any schemas/*.avsc file`);
      visit(dependency, [...trail, entry.file]);
    }
    state.set(entry, 'done');
    ordered.push(entry);
  };
  for (const entry of entries) visit(entry, []);
  const registry = {};
  for (const entry of ordered) avro.Type.forSchema(entry.raw, { registry });
  return ordered;
}

function shortName(fullName) {
  return fullName.slice(fullName.lastIndexOf('.') + 1);
}

function docComment(doc, indent) {
  if (!doc) return '';
  return `${indent}/** ${String(doc).replace(/\*\//g, '* /')} */\n`;
}

function generate(dir) {
  const entries = loadSchemaFiles(dir);
  const declarations = [];
  const seenShort = new Map();
  const tsType = (node, namespace) => {
    if (typeof node === 'string')
      return PRIMITIVES.has(node) ? TS_PRIMITIVE[node] : shortName(qualify(node, namespace));
    if (Array.isArray(node)) {
      const members = node.map((branch) => tsType(branch, namespace));
      const nonNull = members.filter((member) => member !== 'null');
      return nonNull.length < members.length ? `${nonNull.join(' | ')} | null` : members.join(' | ');
    }
    if (node.type === 'array') {
      const items = tsType(node.items, namespace);
      return /[ |]/.test(items) ? `Array<${items}>` : `${items}[]`;
    }
    if (node.type === 'map') return `Record<string, ${tsType(node.values, namespace)}>`;
    if (['record', 'error', 'enum', 'fixed'].includes(node.type)) {
      const fullName = qualify(node.name, node.namespace ?? namespace);
      declare(node, fullName);
      return shortName(fullName);
    }
    return tsType(node.type, namespace);
  };
  const declare = (node, fullName) => {
    const name = shortName(fullName);
    if (seenShort.has(name)) {
      if (seenShort.get(name) !== fullName)
        throw new Error(`two schema types share the name ${name}: ${seenShort.get(name)} and ${fullName}`);
      return;
    }
    seenShort.set(name, fullName);
    const namespace = fullName.slice(0, fullName.lastIndexOf('.')) || undefined;
    const header = docComment(node.doc ? `${node.doc} (Avro ${fullName})` : `Avro ${fullName}`, '');
    if (node.type === 'enum') {
      declarations.push(`${header}export type ${name} = ${node.symbols.map((symbol) => `'${symbol}'`).join(' | ')};\n`);
    } else if (node.type === 'fixed') {
      declarations.push(`${header}export type ${name} = Buffer;\n`);
    } else {
      const slot = declarations.length;
      declarations.push('');
      const fields = node.fields.map(
        (field) => `${docComment(field.doc, '  ')}  ${field.name}: ${tsType(field.type, namespace)};\n`,
      );
      declarations[slot] = `${header}export interface ${name} {\n${fields.join('')}}\n`;
    }
  };
  for (const entry of entries) declare(entry.raw, entry.fullName);
  const map = entries.map((entry) => `  ${shortName(entry.fullName)}: ${shortName(entry.fullName)};\n`).join('');
  return [
    '// Generated by scripts/generate-schema-types.js from schemas/*.avsc. Do not edit:',
    '// change the .avsc file and run `npm run gen:schemas`.',
    '/* eslint-disable */',
    '',
    declarations.join('\n'),
    '/** The value type of each top-level schema (one per schemas/*.avsc file). */',
    `export interface SchemaTypeMap {\n${map}}\n`,
  ].join('\n');
}

function main(argv) {
  const option = (flag, fallback) => {
    const index = argv.indexOf(flag);
    return index >= 0 && argv[index + 1] ? path.resolve(argv[index + 1]) : fallback;
  };
  const root = path.resolve(__dirname, '..');
  const dir = option('--schemas', path.join(root, 'schemas'));
  const out = option('--out', path.join(dir, 'types.generated.ts'));
  const text = generate(dir);
  const shown = path.relative(process.cwd(), out) || out;
  if (argv.includes('--check')) {
    const current = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : null;
    if (current !== text) {
      process.stderr.write(
        `${shown} is ${current === null ? 'missing' : 'out of date with the .avsc files'}: run \`npm run gen:schemas\` (node scripts/generate-schema-types.js) and commit the result.\n`,
      );
      return 1;
    }
    process.stdout.write(`${shown} is up to date\n`);
    return 0;
  }
  fs.writeFileSync(out, text);
  process.stdout.write(`wrote ${shown}\n`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`generate-schema-types: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}

module.exports = { generate, loadSchemaFiles };
