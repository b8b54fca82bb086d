/**
 * Minimisation without derivatives: the Nelder–Mead simplex method (Lagarias et al. 1998
 * coefficients: reflection 1, expansion 2, contraction ½, shrink ½), restarted from the best
 * point until a restart no longer improves it.
 *
 * Why restarts: a simplex can collapse onto a line in a long curved valley and stop short of
 * the minimum (McKinnon 1998); a fresh simplex around the best point either confirms it or moves
 * on. Bounds are the objective's business: return +Infinity outside them (a point that is not
 * finite is never accepted, so the simplex contracts back inside).
 */
export interface MinimizeOptions {
  /** Initial step per coordinate (default 0.5: the objectives here work in log space). */
  readonly step?: number;
  /** Converged when the simplex's values differ by less than this (absolute). */
  readonly valueTolerance?: number;
  /** …and its vertices by less than this in every coordinate. */
  readonly pointTolerance?: number;
  readonly maxEvaluations?: number;
  readonly maxRestarts?: number;
}

export interface Minimum {
  readonly point: number[];
  readonly value: number;
  readonly evaluations: number;
  /** False when maxEvaluations ran out before the tolerances were met. */
  readonly converged: boolean;
}

export function minimize(
  objective: (point: readonly number[]) => number,
  start: readonly number[],
  options: MinimizeOptions = {},
): Minimum {
  const maxEvaluations = options.maxEvaluations ?? 20_000;
  const maxRestarts = options.maxRestarts ?? 10;
  let evaluations = 0;
  const f = (point: readonly number[]): number => {
    evaluations += 1;
    const value = objective(point);
    return Number.isFinite(value) ? value : Number.POSITIVE_INFINITY;
  };
  let best = simplexSearch(f, [...start], options, () => evaluations >= maxEvaluations);
  for (let restart = 0; restart < maxRestarts && evaluations < maxEvaluations; restart++) {
    const again = simplexSearch(f, best.point, options, () => evaluations >= maxEvaluations);
    const improved = best.value - again.value > (options.valueTolerance ?? 1e-10);
    if (again.value <= best.value) best = again;
    if (!improved) break;
  }
  return {
    point: best.point,
    value: best.value,
    evaluations,
    converged: best.converged && evaluations < maxEvaluations,
  };
}

function simplexSearch(
  f: (point: readonly number[]) => number,
  start: number[],
  options: MinimizeOptions,
  exhausted: () => boolean,
): { point: number[]; value: number; converged: boolean } {
  const n = start.length;
  const step = options.step ?? 0.5;
  const valueTolerance = options.valueTolerance ?? 1e-10;
  const pointTolerance = options.pointTolerance ?? 1e-8;
  const points: number[][] = [start];
  for (let i = 0; i < n; i++) {
    const vertex = [...start];
    vertex[i] = vertex[i]! + step;
    points.push(vertex);
  }
  const values = points.map(f);
  const order = Array.from({ length: n + 1 }, (_, i) => i);
  const combine = (from: readonly number[], to: readonly number[], t: number): number[] =>
    from.map((x, i) => x + t * (to[i]! - x));
  for (;;) {
    order.sort((i, j) => values[i]! - values[j]!);
    const lowest = order[0]!;
    const highest = order[n]!;
    const spread = values[highest]! - values[lowest]!;
    let size = 0;
    for (const i of order.slice(1))
      for (let k = 0; k < n; k++) size = Math.max(size, Math.abs(points[i]![k]! - points[lowest]![k]!));
    const converged = Number.isFinite(values[highest]!) && spread <= valueTolerance && size <= pointTolerance;
    if (converged || exhausted()) return { point: [...points[lowest]!], value: values[lowest]!, converged };

    const centroid = new Array<number>(n).fill(0);
    for (const i of order.slice(0, n)) for (let k = 0; k < n; k++) centroid[k]! += points[i]![k]! / n;
    const worst = points[highest]!;
    const reflected = combine(centroid, worst, -1);
    const fr = f(reflected);
    const secondWorst = values[order[n - 1]!]!;
    if (fr < values[lowest]!) {
      const expanded = combine(centroid, worst, -2);
      const fe = f(expanded);
      if (fe < fr) replace(highest, expanded, fe);
      else replace(highest, reflected, fr);
    } else if (fr < secondWorst) {
      replace(highest, reflected, fr);
    } else {
      // Contract towards the better of the worst point and its reflection.
      const outside = fr < values[highest]!;
      const contracted = combine(centroid, outside ? reflected : worst, 0.5);
      const fc = f(contracted);
      if (fc < (outside ? fr : values[highest]!)) replace(highest, contracted, fc);
      else {
        for (const i of order.slice(1)) {
          points[i] = combine(points[lowest]!, points[i]!, 0.5);
          values[i] = f(points[i]!);
        }
      }
    }
  }

  function replace(index: number, point: number[], value: number): void {
    points[index] = point;
    values[index] = value;
  }
}

/**
 * Several starting points, cheaply: a rough search from each (loose tolerances, no restarts), then
 * the full search from the best of them. Guards against a poor local maximum at a fraction of
 * the cost of a full search from every start.
 */
export function minimizeFromStarts(
  objective: (point: readonly number[]) => number,
  starts: readonly (readonly number[])[],
): { best: Minimum; evaluations: number } {
  let evaluations = 0;
  let rough: Minimum | undefined;
  for (const start of starts) {
    const found = minimize(objective, start, { valueTolerance: 1e-6, pointTolerance: 1e-3, maxRestarts: 0 });
    evaluations += found.evaluations;
    if (!rough || found.value < rough.value) rough = found;
  }
  const best = minimize(objective, rough!.point, { step: 0.1 });
  return { best, evaluations: evaluations + best.evaluations };
}
