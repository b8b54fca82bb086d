import gammaln from '@stdlib/math-base-special-gammaln';
import hyp2f1 from '@stdlib/math-base-special-hyp2f1';

/** ln Γ(x) for x > 0 (stdlib's port of the Cephes/SciPy algorithm). */
export const logGamma: (x: number) => number = gammaln;

/** The Gauss hypergeometric function ₂F₁(a, b; c; z) (stdlib's port of Cephes `hyp2f1`). */
export const hypergeometric2F1: (a: number, b: number, c: number, z: number) => number = hyp2f1;

/**
 * Math's functions, looked up once: the likelihoods call them millions of times per fit, and in
 * a sandboxed realm (jest's vm contexts) each `Math.log` lookup costs ten times the call.
 */
export const { log, exp, log1p, expm1 } = Math;

/** ln(e^a + e^b) without overflow. */
export function logAddExp(a: number, b: number): number {
  if (a === Number.NEGATIVE_INFINITY) return b;
  if (b === Number.NEGATIVE_INFINITY) return a;
  return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

/** The distinct values of `values` and, for each element, the index of its value (for caching per value). */
export function distinctIndex(values: ArrayLike<number>): { values: Float64Array; index: Int32Array } {
  const positions = new Map<number, number>();
  const index = new Int32Array(values.length);
  const distinct: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    let position = positions.get(value);
    if (position === undefined) {
      position = distinct.length;
      positions.set(value, position);
      distinct.push(value);
    }
    index[i] = position;
  }
  return { values: Float64Array.from(distinct), index };
}
