import { minimizeFromStarts } from './nelder-mead';
import { standardErrors } from './maximum-likelihood';
import { distinctIndex, exp, log, logGamma } from './special-functions';

/**
 * The Gamma-Gamma model of order value (Fader & Hardie, "The Gamma-Gamma model of monetary
 * value", 2013; Colombo & Jiang 1999). A customer's purchase values are Gamma(p, ν) with a
 * mean p/ν of their own; ν ~ Gamma(q, γ) across customers. Fitted on customers with repeat
 * purchases: x of them (x ≥ 1) whose mean value is m̄ > 0. The density of m̄ given x is
 *   f(m̄ | p, q, γ, x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q x^(px) m̄^(px−1) / (γ + x m̄)^(px+q).
 *
 * It assumes order values do not depend on purchase frequency; docs/predictions.md shows how to
 * check that on your data (the correlation of x and m̄).
 */
export interface GammaGammaParams {
  readonly p: number;
  readonly q: number;
  readonly gamma: number;
}

/** Repeat buyers: x[i] repeat purchases with mean value m[i] (> 0). */
export interface GammaGammaData {
  readonly x: Float64Array;
  readonly m: Float64Array;
}

/** Bounds of the fit; q stays above 1 so that the population mean value γp/(q−1) is finite. */
export const gammaGammaBounds = {
  p: [1e-4, 1e4],
  q: [1 + 1e-6, 1e4],
  gamma: [1e-6, 1e12],
} as const satisfies Record<keyof GammaGammaParams, readonly [number, number]>;

export function gammaGammaLogLikelihood(data: GammaGammaData): (params: GammaGammaParams) => number {
  const xs = distinctIndex(data.x);
  const n = data.x.length;
  const logM = data.m.map(log);
  const perX = new Float64Array(xs.values.length);
  return ({ p, q, gamma }) => {
    const common = -logGamma(q) + q * log(gamma);
    for (let k = 0; k < xs.values.length; k++) {
      const x = xs.values[k]!;
      perX[k] = common + logGamma(p * x + q) - logGamma(p * x) + p * x * log(x);
    }
    let total = 0;
    for (let i = 0; i < n; i++) {
      const x = data.x[i]!;
      total += perX[xs.index[i]!]! + (p * x - 1) * logM[i]! - (p * x + q) * log(gamma + x * data.m[i]!);
    }
    return total;
  };
}

export interface GammaGammaFit {
  readonly params: GammaGammaParams;
  readonly logLikelihood: number;
  readonly customers: number;
  readonly standardErrors: GammaGammaParams | null;
  readonly evaluations: number;
  readonly converged: boolean;
}

/** u = (ln p, ln(q − 1), ln γ): every point of u-space is a valid parameter set. */
const toParams = (u: readonly number[]): GammaGammaParams => ({
  p: exp(u[0]!),
  q: 1 + exp(u[1]!),
  gamma: exp(u[2]!),
});

/**
 * Maximum likelihood by Nelder–Mead in u-space within `gammaGammaBounds`, from three starts
 * whose population mean value γp/(q−1) equals the data's mean of m̄.
 */
export function fitGammaGamma(data: GammaGammaData): GammaGammaFit {
  const logLikelihood = gammaGammaLogLikelihood(data);
  const customers = data.x.length;
  let sum = 0;
  for (let i = 0; i < customers; i++) sum += data.m[i]!;
  const mean = sum / customers;
  const inBounds = (params: GammaGammaParams): boolean =>
    (['p', 'q', 'gamma'] as const).every(
      (k) => params[k] >= gammaGammaBounds[k][0] && params[k] <= gammaGammaBounds[k][1],
    );
  const objective = (u: readonly number[]): number => {
    const params = toParams(u);
    return inBounds(params) ? -logLikelihood(params) / customers : Number.POSITIVE_INFINITY;
  };
  const starts = [
    { p: 1, q: 3 },
    { p: 3, q: 2 },
    { p: 0.5, q: 6 },
  ].map(({ p, q }) => [log(p), log(q - 1), log((mean * (q - 1)) / p)]);
  const { best, evaluations } = minimizeFromStarts(objective, starts);
  const params = toParams(best.point);
  return {
    params,
    logLikelihood: logLikelihood(params),
    customers,
    standardErrors: standardErrors(
      (u) => -logLikelihood(toParams(u)),
      best.point,
      ['p', 'q', 'gamma'],
      (v, k) => ({
        value: k === 1 ? 1 + exp(v) : exp(v),
        derivative: exp(v),
      }),
    ),
    evaluations,
    converged: best.converged,
  };
}

/**
 * E[order value | x, m̄] = (γ + x m̄) p / (p x + q − 1): the customer's own mean m̄ shrunk
 * towards the population mean γp/(q−1), the more so the fewer repeat purchases they made
 * (x = 0 gives the population mean).
 */
export function expectedOrderValue(params: GammaGammaParams, x: number, m: number): number {
  return (params.p * (params.gamma + x * m)) / (params.p * x + params.q - 1);
}
