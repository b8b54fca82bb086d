/** Standard errors of maximum-likelihood estimates, from the curvature of the log-likelihood. */

/**
 * The Hessian of `objective` at `point` by central differences (step `h` per coordinate), for
 * standard errors: the inverse of the Hessian of the negative log-likelihood is the asymptotic
 * covariance of the maximum-likelihood estimate.
 */
export function numericHessian(
  objective: (point: readonly number[]) => number,
  point: readonly number[],
  h = 1e-4,
): number[][] {
  const n = point.length;
  const at = (deltas: ReadonlyArray<readonly [number, number]>): number => {
    const moved = [...point];
    for (const [k, d] of deltas) moved[k] = moved[k]! + d;
    return objective(moved);
  };
  const f0 = objective(point);
  const hessian = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    hessian[i]![i] = (at([[i, h]]) - 2 * f0 + at([[i, -h]])) / (h * h);
    for (let j = 0; j < i; j++) {
      const value =
        (at([
          [i, h],
          [j, h],
        ]) -
          at([
            [i, h],
            [j, -h],
          ]) -
          at([
            [i, -h],
            [j, h],
          ]) +
          at([
            [i, -h],
            [j, -h],
          ])) /
        (4 * h * h);
      hessian[i]![j] = value;
      hessian[j]![i] = value;
    }
  }
  return hessian;
}

/** The inverse of a symmetric positive-definite matrix (Gauss–Jordan with partial pivoting); null when singular. */
export function invert(matrix: readonly (readonly number[])[]): number[][] | null {
  const n = matrix.length;
  const a = matrix.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let row = col + 1; row < n; row++) if (Math.abs(a[row]![col]!) > Math.abs(a[pivot]![col]!)) pivot = row;
    if (Math.abs(a[pivot]![col]!) < 1e-300) return null;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const divisor = a[col]![col]!;
    for (let k = 0; k < 2 * n; k++) a[col]![k]! /= divisor;
    for (let row = 0; row < n; row++) {
      if (row === col) continue;
      const factor = a[row]![col]!;
      if (factor !== 0) for (let k = 0; k < 2 * n; k++) a[row]![k]! -= factor * a[col]![k]!;
    }
  }
  return a.map((row) => row.slice(n));
}

/**
 * Standard errors of exp(u) from the Hessian of the negative log-likelihood in u = ln θ:
 * SE(θ) = θ · SE(u) (delta method).
 */
export function standardErrors<K extends string>(
  negativeLogLikelihood: (u: readonly number[]) => number,
  u: readonly number[],
  keys: readonly K[],
  transform: (u: number, k: number) => { value: number; derivative: number } = (v) => ({
    value: Math.exp(v),
    derivative: Math.exp(v),
  }),
): Record<K, number> | null {
  const covariance = invert(numericHessian(negativeLogLikelihood, u));
  if (!covariance) return null;
  const out = {} as Record<K, number>;
  for (let k = 0; k < keys.length; k++) {
    const variance = covariance[k]![k]!;
    if (!(variance > 0)) return null;
    out[keys[k]!] = transform(u[k]!, k).derivative * Math.sqrt(variance);
  }
  return out;
}
