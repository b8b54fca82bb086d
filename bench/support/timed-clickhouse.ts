import { performance } from 'node:perf_hooks';
import type { ClickHouse } from '../../services/common/clickhouse/client-factory';

/**
 * `ch` with the time of every query and command, summed by statement text (its first 110
 * characters; values are parameters, never in it): which statement dominates a benchmark.
 * Mutations run in the background; their time shows as the waits that follow them.
 */
export function timedClickHouse(ch: ClickHouse): { ch: ClickHouse; slowest: (n: number) => Record<string, unknown>[] } {
  const totals = new Map<string, { calls: number; ms: number }>();
  const timed =
    <A extends [string, ...unknown[]], R>(run: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const started = performance.now();
      try {
        return await run(...args);
      } finally {
        const text = args[0].replace(/\s+/g, ' ').trim().slice(0, 110);
        const total = totals.get(text) ?? { calls: 0, ms: 0 };
        total.calls += 1;
        total.ms += performance.now() - started;
        totals.set(text, total);
      }
    };
  const wrapped = Object.assign(Object.create(ch) as ClickHouse, {
    query: timed(ch.query.bind(ch) as (sql: string, ...rest: unknown[]) => Promise<unknown[]>),
    command: timed(ch.command.bind(ch) as (sql: string, ...rest: unknown[]) => Promise<void>),
  });
  return {
    ch: wrapped,
    slowest: (n) =>
      [...totals.entries()]
        .sort((a, b) => b[1].ms - a[1].ms)
        .slice(0, n)
        .map(([sql, t]) => ({ seconds: +(t.ms / 1000).toFixed(2), calls: t.calls, sql })),
  };
}
