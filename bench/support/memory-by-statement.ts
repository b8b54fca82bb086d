import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClickHouse } from '../../services/common/clickhouse/client-factory';

/** One statement of the run: when it started and ended (epoch ms) and its first words. */
interface Span {
  readonly started: number;
  ended: number;
  readonly text: string;
}

/** The highest resident memory seen while a statement ran (or between statements: Node alone). */
export interface StatementPeak {
  readonly bytes: number;
  readonly at: number;
  readonly text: string;
}

/**
 * Where a process's memory peaks: `ch` with the start and end of every statement, and the resident
 * memory of this process sampled every 100 ms by a separate process (embedded ClickHouse runs a
 * statement on the calling thread, so nothing inside this process would sample while it runs; a
 * separate process also adds nothing to the memory it measures). `stop` returns the highest
 * samples, each with the statement that was running ("between statements" for Node's own work).
 */
export function memoryByStatement(ch: ClickHouse): {
  ch: ClickHouse;
  stop: (n: number) => StatementPeak[];
} {
  const spans: Span[] = [];
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-rss-')), 'samples');
  const sampler: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      `const fs = require('node:fs');
       setInterval(() => {
         const m = /VmRSS:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/${process.pid}/status', 'utf8'));
         if (m) fs.appendFileSync(${JSON.stringify(file)}, Date.now() + ' ' + m[1] * 1024 + '\\n');
       }, 100);`,
    ],
    { stdio: 'ignore' },
  );
  const traced =
    <A extends [unknown, ...unknown[]], R>(run: (...args: A) => Promise<R>, prefix: string) =>
    async (...args: A): Promise<R> => {
      const span: Span = {
        started: Date.now(),
        ended: Number.POSITIVE_INFINITY,
        text: `${prefix}${String(args[0]).replace(/\s+/g, ' ').trim().slice(0, 100)}`,
      };
      spans.push(span);
      try {
        return await run(...args);
      } finally {
        span.ended = Date.now();
      }
    };
  const wrapped = Object.assign(Object.create(ch) as ClickHouse, {
    query: traced(ch.query.bind(ch) as (sql: string, ...rest: unknown[]) => Promise<unknown[]>, ''),
    command: traced(ch.command.bind(ch) as (sql: string, ...rest: unknown[]) => Promise<void>, ''),
    insert: traced(ch.insert.bind(ch) as (table: string, ...rest: unknown[]) => Promise<void>, 'insert into '),
    insertEncoded: traced(
      ch.insertEncoded.bind(ch) as (table: string, ...rest: unknown[]) => Promise<void>,
      'insert into ',
    ),
  });
  return {
    ch: wrapped,
    stop: (n) => {
      sampler.kill();
      const samples = fs.existsSync(file)
        ? fs
            .readFileSync(file, 'utf8')
            .trim()
            .split('\n')
            .map((row) => row.split(' ').map(Number) as [number, number])
        : [];
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
      const byText = new Map<string, StatementPeak>();
      for (const [at, bytes] of samples) {
        const span = spans.findLast((s) => s.started <= at && at <= s.ended);
        const text = span?.text ?? 'between statements (Node)';
        const best = byText.get(text);
        if (!best || bytes > best.bytes) byText.set(text, { bytes, at, text });
      }
      return [...byText.values()].sort((a, b) => b.bytes - a.bytes).slice(0, n);
    },
  };
}
