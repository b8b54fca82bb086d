/**
 * docs/configuration.md promises every environment variable. The schemas are the truth: each
 * variable they read must have a row there, the row must name the services that read it and,
 * where the default is a short value, that value; and the page must name nothing they do not read.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { activatorEnv } from '../../../services/activator/config';
import { cliEnv } from '../../../services/cli/config';
import { collectorEnv } from '../../../services/collector/config';
import { stitcherEnv } from '../../../services/identity-stitcher/config';
import { materializerEnv } from '../../../services/profile-materializer/config';

const schemas: Record<string, z.ZodObject> = {
  collector: collectorEnv,
  stitcher: stitcherEnv,
  materializer: materializerEnv,
  activator: activatorEnv,
  CLI: cliEnv,
};

/** Read by something other than kumiki's schemas, yet worth a row. */
const readElsewhere = new Set(['NODE_OPTIONS']);

const services = Object.keys(schemas).filter((name) => name !== 'CLI');
const variableName = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;

interface Row {
  readonly variables: readonly string[];
  readonly usedBy: string;
  readonly defaults: string;
  readonly cells: readonly string[];
}

function codeSpans(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
}

function tableRows(markdown: string): Row[] {
  return markdown
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[-| ]+\|$/.test(line))
    .map((line) => line.slice(1, -1).split('|'))
    .filter((cells) => cells[0]!.trim() !== 'variable')
    .map((cells) => ({
      variables: codeSpans(cells[0]!),
      usedBy: cells[1]!.trim(),
      defaults: cells[2]!.trim(),
      cells,
    }));
}

/** The schema's default as the page would write it, or undefined when it is not a short value. */
function shortDefault(field: z.ZodType): string | undefined {
  const parsed = field.safeParse(undefined);
  if (!parsed.success) return undefined;
  const value: unknown = parsed.data;
  const text = Array.isArray(value) ? value.join(',') : value;
  if (typeof text === 'number' || typeof text === 'boolean') return String(text);
  if (typeof text !== 'string' || text === '' || text.length > 80 || path.isAbsolute(text)) return undefined;
  return text;
}

/** Whether a default cell holds the value; numbers may carry thousands separators there. */
function cellHolds(cell: string, value: string): boolean {
  if (!/^\d+$/.test(value)) return cell.includes(value);
  const plain = cell.replace(/(\d),(?=\d{3})/g, '$1');
  return new RegExp(`(?<![\\d.])${value}(?![\\d.])`).test(plain);
}

const page = readFileSync(path.join(__dirname, '../../../docs/configuration.md'), 'utf8');
const rows = tableRows(page);

/** Variable → the services (and CLI) whose schema reads it. */
const readers = new Map<string, string[]>();
for (const [reader, schema] of Object.entries(schemas)) {
  for (const name of Object.keys(schema.shape)) readers.set(name, [...(readers.get(name) ?? []), reader]);
}

function rowsOf(name: string): Row[] {
  return rows.filter((row) => row.variables.includes(name));
}

describe('docs/configuration.md', () => {
  it('reads the schemas it is held to', () => {
    expect(readers.size).toBeGreaterThan(150);
    expect(readers.get('MATERIALIZER_HEAP_GROWTH_PERCENT')).toEqual(['materializer']);
  });

  it.each([...readers.keys()])('has one row for %s', (name) => {
    expect(rowsOf(name)).toHaveLength(1);
  });

  it('names in its tables only variables that something reads', () => {
    const named = rows.flatMap((row) => row.cells.flatMap(codeSpans)).filter((span) => variableName.test(span));
    const unknown = named.filter((name) => !readers.has(name) && !readElsewhere.has(name));
    expect(unknown).toEqual([]);
  });

  it.each([...readers])('names the readers of %s', (name, byWhom) => {
    const usedBy = rowsOf(name)[0]?.usedBy ?? '';
    const everyService = /\b(all|each service|every service)\b/.test(usedBy);
    const missing = byWhom.filter((reader) => !usedBy.includes(reader) && !(everyService && services.includes(reader)));
    expect(missing).toEqual([]);
  });

  it.each([...readers.keys()])('gives the default of %s', (name) => {
    const cell = rowsOf(name)[0]?.defaults ?? '';
    const expected = Object.values(schemas)
      .filter((schema) => name in schema.shape)
      .map((schema) => shortDefault(schema.shape[name] as z.ZodType))
      .filter((value) => value !== undefined);
    expect(expected.filter((value) => !cellHolds(cell, value))).toEqual([]);
  });
});
