import fs from 'node:fs';
import path from 'node:path';
import * as avro from 'avsc';
import type { SchemaTypeMap } from './types.generated';

export type * from './types.generated';

/**
 * The topic schemas, loaded from `schemas/*.avsc` — the single source of every topic's
 * shape (DESIGN.md; the TS types in types.generated.ts come from the same files).
 *
 * Loading strategy: each file holds one top-level record; files may refer to types defined
 * in other files by full name (`kumiki.v1.Identifier`). Files are parsed in dependency order
 * through one shared avsc registry, so a named type exists once. What gets registered with
 * the schema registry must be self-contained, so each schema's JSON is built by inlining every
 * foreign named type at its first use (verbatim from its file: docs, defaults and logical
 * types kept) and referring to it by full name afterwards, as Avro requires.
 *
 * Registry quirk: Apicurio 3.0.9 refuses (422, "Failed to discover artifact type from
 * content") any schema in which a field's default is the string "{}", so the JSON-text fields
 * have no default; a unit test keeps it that way.
 *
 * Nothing is read at import time: `loadSchemas()` reads once, on first use, and caches.
 * scripts/generate-schema-types.js orders files by the same rule (a unit test checks).
 */
export type SchemaName = keyof SchemaTypeMap;

/** A record schema as JSON. */
export interface AvroRecordSchema {
  readonly type: 'record';
  readonly name: string;
  readonly namespace?: string;
  readonly doc?: string;
  readonly fields: readonly unknown[];
}

export interface LoadedSchema<N extends SchemaName = SchemaName> {
  /** Short name, e.g. `Event` (the file `schemas/Event.avsc`). */
  readonly name: N;
  /** Full Avro name, e.g. `kumiki.v1.Event`. */
  readonly fullName: string;
  readonly file: string;
  /** Parsed type: validates, encodes and decodes values of this schema. */
  readonly type: avro.Type;
  /** Self-contained schema JSON (no references to other files), as registered. */
  readonly json: AvroRecordSchema;
  /** `json` as text. */
  readonly text: string;
}

export interface SchemaSet {
  /** Schemas in dependency order (a schema comes after every schema it uses). */
  readonly all: readonly LoadedSchema[];
  get<N extends SchemaName>(name: N): LoadedSchema<N>;
}

/** avsc options every kumiki reader and writer uses; `long` stays a JS number. */
export const avroOptions: Readonly<Partial<avro.ForSchemaOptions>> = Object.freeze({ wrapUnions: 'auto' as const });

/**
 * `schemas/` under the project root: this folder when run from the sources, and the sources'
 * folder when run compiled (`dist/schemas/`, which holds no .avsc files).
 */
export function schemasDir(): string {
  const compiled = `${path.sep}dist${path.sep}schemas`;
  return __dirname.endsWith(compiled) ? path.resolve(__dirname, '..', '..', 'schemas') : __dirname;
}

let cached: SchemaSet | undefined;

/** Loads `schemas/*.avsc` (from `dir`, default the project's) once; later calls reuse it. */
export function loadSchemas(dir?: string): SchemaSet {
  if (dir === undefined) return (cached ??= readSchemaSet(schemasDir()));
  return readSchemaSet(dir);
}

export function schema<N extends SchemaName>(name: N): LoadedSchema<N> {
  return loadSchemas().get(name);
}

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const NAMED = new Set(['record', 'error', 'enum', 'fixed']);

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface SchemaFile {
  readonly file: string;
  readonly raw: JsonObject;
  readonly fullName: string;
  /** Named types defined in the file (full name → definition) and their namespaces. */
  readonly defined: Map<string, { node: JsonObject; namespace: string | undefined }>;
  readonly references: Set<string>;
}

function qualify(name: string, namespace: string | undefined): string {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`;
}

function namespaceOf(fullName: string): string | undefined {
  const dot = fullName.lastIndexOf('.');
  return dot > 0 ? fullName.slice(0, dot) : undefined;
}

function isObject(node: Json | undefined): node is JsonObject {
  return typeof node === 'object' && node !== null && !Array.isArray(node);
}

/** Visits every type node of a schema with the namespace names resolve against there. */
function walkTypes(
  node: Json | undefined,
  namespace: string | undefined,
  visit: (node: Json, namespace: string | undefined) => void,
): void {
  if (node === undefined) return;
  visit(node, namespace);
  if (Array.isArray(node)) {
    for (const branch of node) walkTypes(branch, namespace, visit);
    return;
  }
  if (!isObject(node)) return;
  let inner = namespace;
  if (typeof node.name === 'string' && typeof node.type === 'string' && NAMED.has(node.type)) {
    inner = namespaceOf(qualify(node.name, typeof node.namespace === 'string' ? node.namespace : namespace));
  }
  if (node.type === 'array') walkTypes(node.items, inner, visit);
  else if (node.type === 'map') walkTypes(node.values, inner, visit);
  else if (node.type === 'record' || node.type === 'error') {
    for (const field of Array.isArray(node.fields) ? node.fields : [])
      if (isObject(field)) walkTypes(field.type, inner, visit);
  } else if (typeof node.type !== 'string' || !NAMED.has(node.type)) walkTypes(node.type, inner, visit);
}

function readFile(dir: string, file: string): SchemaFile {
  const raw = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Json;
  if (!isObject(raw) || raw.type !== 'record' || typeof raw.name !== 'string') {
    throw new Error(`schemas/${file}: a schema file must hold one named record`);
  }
  const defined: SchemaFile['defined'] = new Map();
  const references = new Set<string>();
  walkTypes(raw, undefined, (node, namespace) => {
    if (typeof node === 'string') {
      if (!PRIMITIVES.has(node)) references.add(qualify(node, namespace));
    } else if (
      isObject(node) &&
      typeof node.name === 'string' &&
      typeof node.type === 'string' &&
      NAMED.has(node.type)
    ) {
      const fullName = qualify(node.name, typeof node.namespace === 'string' ? node.namespace : namespace);
      defined.set(fullName, { node, namespace: namespaceOf(fullName) });
    }
  });
  const fullName = qualify(raw.name, typeof raw.namespace === 'string' ? raw.namespace : undefined);
  return { file, raw, fullName, defined, references };
}

/** Orders files so that each comes after the files defining the types it references. */
function dependencyOrder(files: readonly SchemaFile[]): SchemaFile[] {
  const owner = new Map<string, SchemaFile>();
  for (const file of files) for (const name of file.defined.keys()) owner.set(name, file);
  const ordered: SchemaFile[] = [];
  const state = new Map<SchemaFile, 'visiting' | 'done'>();
  const visit = (file: SchemaFile, trail: readonly string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'visiting')
      throw new Error(`schemas reference each other in a cycle: ${[...trail, file.file].join(' -> ')}`);
    state.set(file, 'visiting');
    for (const name of file.references) {
      if (file.defined.has(name)) continue;
      const dependency = owner.get(name);
      if (!dependency) throw new Error(`schemas/${file.file}: type ${name} is not defined in any schemas/*.avsc file`);
      visit(dependency, [...trail, file.file]);
    }
    state.set(file, 'done');
    ordered.push(file);
  };
  for (const file of files) visit(file, []);
  return ordered;
}

/**
 * A copy of `node` in which the first use of every type defined in another file is replaced
 * by that type's definition (with its namespace made explicit), so the result stands alone.
 */
function selfContained(root: SchemaFile, owner: ReadonlyMap<string, SchemaFile>): JsonObject {
  const emitted = new Set<string>();
  const copy = (node: Json | undefined, namespace: string | undefined): Json => {
    if (typeof node === 'string') {
      if (PRIMITIVES.has(node)) return node;
      const fullName = qualify(node, namespace);
      if (emitted.has(fullName)) return node;
      const definition = owner.get(fullName)?.defined.get(fullName);
      if (!definition) return node;
      const inlined: JsonObject = { ...definition.node, name: fullName.slice(fullName.lastIndexOf('.') + 1) };
      if (definition.namespace !== undefined) inlined.namespace = definition.namespace;
      return copy(inlined, namespace);
    }
    if (Array.isArray(node)) return node.map((branch) => copy(branch, namespace));
    if (!isObject(node)) return node ?? null;
    const out: JsonObject = { ...node };
    let inner = namespace;
    if (typeof node.name === 'string' && typeof node.type === 'string' && NAMED.has(node.type)) {
      const fullName = qualify(node.name, typeof node.namespace === 'string' ? node.namespace : namespace);
      emitted.add(fullName);
      inner = namespaceOf(fullName);
    }
    if (node.type === 'array') out.items = copy(node.items, inner);
    else if (node.type === 'map') out.values = copy(node.values, inner);
    else if (node.type === 'record' || node.type === 'error') {
      out.fields = (Array.isArray(node.fields) ? node.fields : []).map((field) =>
        isObject(field) ? { ...field, type: copy(field.type, inner) } : field,
      );
    } else if (typeof node.type !== 'string' || !NAMED.has(node.type)) out.type = copy(node.type, inner);
    return out;
  };
  return copy(root.raw, undefined) as JsonObject;
}

function readSchemaSet(dir: string): SchemaSet {
  const names = fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.avsc'))
    .sort();
  const files = dependencyOrder(names.map((file) => readFile(dir, file)));
  const owner = new Map<string, SchemaFile>();
  for (const file of files) for (const name of file.defined.keys()) owner.set(name, file);

  const registry: Record<string, avro.Type> = {};
  const all: LoadedSchema[] = files.map((file) => {
    const type = avro.Type.forSchema(file.raw as unknown as avro.Schema, { ...avroOptions, registry });
    const json = selfContained(file, owner) as unknown as AvroRecordSchema;
    return Object.freeze({
      name: file.fullName.slice(file.fullName.lastIndexOf('.') + 1) as SchemaName,
      fullName: file.fullName,
      file: path.join(dir, file.file),
      type,
      json,
      text: JSON.stringify(json),
    });
  });
  const byName = new Map(all.map((loaded) => [loaded.name as string, loaded]));
  return Object.freeze({
    all,
    get<N extends SchemaName>(name: N): LoadedSchema<N> {
      const loaded = byName.get(name);
      if (!loaded) throw new Error(`no schema named ${name} in ${dir}`);
      return loaded as LoadedSchema<N>;
    },
  });
}
export { eventWith } from './event-defaults';
