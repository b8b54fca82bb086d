import { exp, log, log1p } from './special-functions';

/**
 * L2-regularised logistic regression fitted by Newton's method (iteratively reweighted least
 * squares) on standardised features. With a few dozen features the Hessian is a small dense
 * matrix, Newton converges in a handful of iterations, and the result does not depend on a
 * learning rate. The intercept is not penalised.
 */
export interface LogisticModel {
  /** Feature names, in the order of `weights`. */
  readonly features: readonly string[];
  readonly intercept: number;
  /** Weights of the standardised features ((value − mean) / scale). */
  readonly weights: readonly number[];
  readonly means: readonly number[];
  readonly scales: readonly number[];
  readonly iterations: number;
}

/** Rows as one flat array, `features.length` values per row. */
export interface TrainingSet {
  readonly features: readonly string[];
  readonly values: Float64Array;
  readonly labels: Uint8Array;
}

export function fitLogistic(
  set: TrainingSet,
  options: { readonly l2?: number; readonly maxIterations?: number } = {},
): LogisticModel {
  const d = set.features.length;
  const n = set.labels.length;
  const l2 = options.l2 ?? 1;
  const means = new Array<number>(d).fill(0);
  const scales = new Array<number>(d).fill(0);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) means[k]! += set.values[i * d + k]! / n;
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) scales[k]! += (set.values[i * d + k]! - means[k]!) ** 2 / n;
  for (let k = 0; k < d; k++) scales[k] = Math.sqrt(scales[k]!) || 1; // a constant feature gets weight 0
  const z = new Float64Array(n * d);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < d; k++) z[i * d + k] = (set.values[i * d + k]! - means[k]!) / scales[k]!;

  const w = new Array<number>(d + 1).fill(0); // w[0] is the intercept
  let positives = 0;
  for (let i = 0; i < n; i++) positives += set.labels[i]!;
  w[0] = log((positives + 0.5) / (n - positives + 0.5));
  let iterations = 0;
  const maxIterations = options.maxIterations ?? 50;
  for (; iterations < maxIterations; iterations++) {
    const gradient = new Array<number>(d + 1).fill(0);
    const hessian = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    const row = new Array<number>(d + 1);
    row[0] = 1;
    for (let i = 0; i < n; i++) {
      let eta = w[0]!;
      for (let k = 0; k < d; k++) {
        row[k + 1] = z[i * d + k]!;
        eta += w[k + 1]! * row[k + 1]!;
      }
      const p = 1 / (1 + exp(-eta));
      const residual = set.labels[i]! - p;
      const weight = p * (1 - p);
      for (let j = 0; j <= d; j++) {
        gradient[j]! += residual * row[j]!;
        for (let k = 0; k <= j; k++) hessian[j]![k]! += weight * row[j]! * row[k]!;
      }
    }
    for (let j = 1; j <= d; j++) {
      gradient[j]! -= l2 * w[j]!;
      hessian[j]![j]! += l2;
    }
    for (let j = 0; j <= d; j++) for (let k = 0; k < j; k++) hessian[k]![j] = hessian[j]![k]!;
    const step = solve(hessian, gradient);
    let largest = 0;
    for (let j = 0; j <= d; j++) {
      w[j]! += step[j]!;
      largest = Math.max(largest, Math.abs(step[j]!));
    }
    if (largest < 1e-9) {
      iterations += 1;
      break;
    }
  }
  return { features: [...set.features], intercept: w[0]!, weights: w.slice(1), means, scales, iterations };
}

/** P(label = 1) for one row of raw feature values. */
export function predictLogistic(model: LogisticModel, row: ArrayLike<number>): number {
  let eta = model.intercept;
  for (let k = 0; k < model.weights.length; k++)
    eta += (model.weights[k]! * (row[k]! - model.means[k]!)) / model.scales[k]!;
  return 1 / (1 + exp(-eta));
}

/** Mean log-loss of predictions against labels (for reports). */
export function logLoss(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(Math.max(predictions[i]!, 1e-15), 1 - 1e-15);
    total -= labels[i] ? log(p) : log1p(-p);
  }
  return total / labels.length;
}

/** Solves A x = b for a symmetric positive-definite A (Cholesky). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const l = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i]![j]!;
      for (let k = 0; k < j; k++) sum -= l[i]![k]! * l[j]![k]!;
      l[i]![j] = i === j ? Math.sqrt(Math.max(sum, 1e-12)) : sum / l[j]![j]!;
    }
  }
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let sum = b[i]!;
    for (let k = 0; k < i; k++) sum -= l[i]![k]! * y[k]!;
    y[i] = sum / l[i]![i]!;
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i]!;
    for (let k = i + 1; k < n; k++) sum -= l[k]![i]! * x[k]!;
    x[i] = sum / l[i]![i]!;
  }
  return x;
}
