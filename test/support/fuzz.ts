import fc from 'fast-check';
import { type ErrorCode, errorCodes } from '../../services/common/error-codes';

/**
 * Property-based fuzzing at kumiki's doors (test/integration/fuzz/): bounded in `npm test`;
 * FUZZ_RUNS=N runs N times the cases of every property (slow bodies and compression bombs
 * included, so the counts stay in proportion), FUZZ_SEED=S replays a run.
 *
 * A failure names the seed and the shrunk case, and how to replay it:
 * `FUZZ_SEED=<seed> npx jest <file>`.
 */
export function fuzzSettings(source: NodeJS.ProcessEnv = process.env): {
  readonly factor: number;
  readonly seed: number;
} {
  const factor = source.FUZZ_RUNS === undefined ? 1 : Number(source.FUZZ_RUNS);
  if (!(Number.isInteger(factor) && factor > 0))
    throw new Error(`FUZZ_RUNS=${source.FUZZ_RUNS}: a positive whole number`);
  const seed = source.FUZZ_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(source.FUZZ_SEED);
  if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED=${source.FUZZ_SEED}: a whole number`);
  return { factor, seed };
}

/** A test's time bound: `ms` for the bounded cases of `npm test`, as many times more as FUZZ_RUNS asks. */
export function fuzzTimeout(ms: number): number {
  return ms * fuzzSettings().factor;
}

/**
 * Checks an async property with `cases` runs (times FUZZ_RUNS), the seed of the settings; on
 * failure the error says the seed, the counterexample and how to replay it.
 */
export async function checkProperty<T>(
  door: string,
  property: fc.IAsyncPropertyWithHooks<T> | fc.IAsyncProperty<T>,
  cases: number,
): Promise<void> {
  const { factor, seed } = fuzzSettings();
  const numRuns = cases * factor;
  const details = await fc.check(property, { numRuns, seed, endOnFailure: false });
  if (details.failed) {
    const failure =
      details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    const counterexample = fc.stringify(details.counterexample);
    throw new Error(
      [
        `${door}: fuzzing found a failing case (seed ${seed}, path ${details.counterexamplePath}; replay with FUZZ_SEED=${seed})`,
        `failure: ${failure.slice(0, 2_000)}`,
        `case (${counterexample.length} characters): ${counterexample.slice(0, 2_000)}`,
      ].join('\n'),
    );
  }
}

/**
 * An error answer as documented: a known code, its code's status, `{ code, message }`. Returns
 * the code; a 5xx is left to the caller to judge (none is expected at a door, bar documented ones).
 */
export function expectDocumentedError(status: number, body: { code?: string; message?: unknown }): ErrorCode {
  const code = body.code as ErrorCode;
  expect(Object.keys(errorCodes)).toContain(code);
  expect({ status, message: typeof body.message }).toEqual({ status: errorCodes[code].status, message: 'string' });
  return code;
}

/**
 * Sends `body` through `send`. A body holding keys the HTTP layer refuses as prototype poisoning
 * (`__proto__` anywhere, `constructor` holding `prototype`; fast-check generates them on purpose)
 * must be answered 400 KUMIKI_MALFORMED_JSON before any route sees it; it is then sent again
 * without them, and that answer is the one returned, so a property still judges the route.
 */
export async function sendRefusingPoisonedKeys<A extends { status: number; body: { code?: string } }>(
  body: unknown,
  send: (body: unknown) => Promise<A>,
): Promise<A> {
  const clean = typeof body === 'string' ? null : withoutPoisoningKeys(body);
  if (clean === null) return send(body);
  const refused = await send(body);
  expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 400, code: 'KUMIKI_MALFORMED_JSON' });
  return send(clean);
}

/** `body` without prototype-poisoning keys, or null when it holds none. */
function withoutPoisoningKeys(body: unknown): unknown {
  let found = false;
  const clean = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(clean);
    if (value === null || typeof value !== 'object') return value;
    const copy: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      const poisons =
        key === '__proto__' ||
        (key === 'constructor' && inner !== null && typeof inner === 'object' && Object.hasOwn(inner, 'prototype'));
      if (poisons) found = true;
      else copy[key] = clean(inner);
    }
    return copy;
  };
  const cleaned = clean(body);
  return found ? cleaned : null;
}
