import { standardErrors } from './maximum-likelihood';
import { minimizeFromStarts } from './nelder-mead';
import { distinctIndex, exp, expm1, hypergeometric2F1, log, logAddExp, logGamma } from './special-functions';

/**
 * The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005, "Counting your customers
 * the easy way"), in days.
 *
 * While active, a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each
 * purchase they drop out for good with probability p ~ Beta(a, b). A customer is summarised by
 * x (repeat purchases: purchase days after the first), t_x (day of the last purchase, counted
 * from the first) and T (days from the first purchase to the end of the observation).
 *
 * Likelihood of one customer (FHL 2005, eq. 6, in logs so nothing overflows):
 *   ln L = ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x) − ln B(a, b)
 *          + ln[ (α+T)^−(r+x) + 1{x>0} · a/(b+x−1) · (α+t_x)^−(r+x) ]
 */
export interface BgnbdParams {
  readonly r: number;
  readonly alpha: number;
  readonly a: number;
  readonly b: number;
}

/**
 * Customers as a histogram: `count[i]` customers share (x[i], tx[i], T[i]). With whole days
 * there are far fewer distinct triples than customers, and the likelihood is a sum over them.
 */
export interface BgnbdData {
  readonly x: Float64Array;
  readonly tx: Float64Array;
  readonly T: Float64Array;
  readonly count: Float64Array;
}

/** Bounds of the fit (days; a and b are dimensionless). */
export const bgnbdBounds = {
  r: [1e-4, 1e4],
  alpha: [1e-4, 1e7],
  a: [1e-4, 1e4],
  b: [1e-4, 1e4],
} as const satisfies Record<keyof BgnbdParams, readonly [number, number]>;

/**
 * The log-likelihood of the data as a function of the parameters, with everything that does
 * not depend on them computed once: per distinct x the gamma-function terms, per distinct T
 * and t_x the logarithms (x takes a few dozen values, T and t_x a few hundred).
 */
export function bgnbdLogLikelihood(data: BgnbdData): (params: BgnbdParams) => number {
  const xs = distinctIndex(data.x);
  const Ts = distinctIndex(data.T);
  const txs = distinctIndex(data.tx);
  const n = data.x.length;
  const perX = new Float64Array(xs.values.length);
  const secondX = new Float64Array(xs.values.length);
  const logT = new Float64Array(Ts.values.length);
  const logTx = new Float64Array(txs.values.length);
  return ({ r, alpha, a, b }) => {
    const common = -logGamma(r) + r * log(alpha) + logGamma(a + b) - logGamma(b);
    for (let k = 0; k < xs.values.length; k++) {
      const x = xs.values[k]!;
      perX[k] = common + logGamma(r + x) + logGamma(b + x) - logGamma(a + b + x);
      secondX[k] = x > 0 ? log(a) - log(b + x - 1) : Number.NEGATIVE_INFINITY;
    }
    for (let k = 0; k < Ts.values.length; k++) logT[k] = log(alpha + Ts.values[k]!);
    for (let k = 0; k < txs.values.length; k++) logTx[k] = log(alpha + txs.values[k]!);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const xi = xs.index[i]!;
      const rx = r + data.x[i]!;
      const stays = -rx * logT[Ts.index[i]!]!;
      const term = data.x[i]! > 0 ? logAddExp(stays, secondX[xi]! - rx * logTx[txs.index[i]!]!) : stays;
      total += data.count[i]! * (perX[xi]! + term);
    }
    return total;
  };
}

export interface BgnbdFit {
  readonly params: BgnbdParams;
  readonly logLikelihood: number;
  readonly customers: number;
  /** Asymptotic standard errors (inverse observed information, delta method); null when the information is singular. */
  readonly standardErrors: BgnbdParams | null;
  readonly evaluations: number;
  readonly converged: boolean;
}

const names = ['r', 'alpha', 'a', 'b'] as const;
const toParams = (u: readonly number[]): BgnbdParams => ({
  r: exp(u[0]!),
  alpha: exp(u[1]!),
  a: exp(u[2]!),
  b: exp(u[3]!),
});

/**
 * Maximum likelihood: Nelder–Mead on the logarithms of the parameters (so they stay positive)
 * within `bgnbdBounds`, from three starting points whose mean purchase rate r/α matches the
 * data's (x̄ / T̄), keeping the best.
 */
export function fitBgnbd(data: BgnbdData): BgnbdFit {
  const logLikelihood = bgnbdLogLikelihood(data);
  let customers = 0;
  let sumX = 0;
  let sumT = 0;
  for (let i = 0; i < data.count.length; i++) {
    customers += data.count[i]!;
    sumX += data.count[i]! * data.x[i]!;
    sumT += data.count[i]! * data.T[i]!;
  }
  const inBounds = (p: BgnbdParams): boolean =>
    names.every((k) => p[k] >= bgnbdBounds[k][0] && p[k] <= bgnbdBounds[k][1]);
  const objective = (u: readonly number[]): number => {
    const params = toParams(u);
    return inBounds(params) ? -logLikelihood(params) / customers : Number.POSITIVE_INFINITY;
  };
  const meanRate = Math.max(sumX, 1e-3 * customers) / Math.max(sumT, 1);
  const starts = [
    { r: 1, a: 1, b: 3 },
    { r: 0.3, a: 0.5, b: 2 },
    { r: 3, a: 2, b: 10 },
  ].map(({ r, a, b }) => [log(r), log(r / meanRate), log(a), log(b)]);
  const { best, evaluations } = minimizeFromStarts(objective, starts);
  const params = toParams(best.point);
  return {
    params,
    logLikelihood: logLikelihood(params),
    customers,
    standardErrors: standardErrors((u) => -logLikelihood(toParams(u)), best.point, names),
    evaluations,
    converged: best.converged,
  };
}

/**
 * P(alive | x, t_x, T) = 1 / (1 + 1{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))   (FHL 2005, eq. 11).
 * A customer without repeat purchases is alive with probability 1 under BG/NBD: dropping out
 * happens only right after a purchase.
 */
export function probabilityAlive(params: BgnbdParams, x: number, tx: number, T: number): number {
  if (x === 0) return 1;
  const { r, alpha, a, b } = params;
  const logOdds = log(a) - log(b + x - 1) + (r + x) * (log(alpha + T) - log(alpha + tx));
  return 1 / (1 + exp(logOdds));
}

/**
 * Expected purchases in the next `t` days of a customer with (x, t_x, T) (FHL 2005, eq. 10):
 *   E[Y(t)] = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; z)] · P(alive),
 *   z = t / (α+T+t).
 * Evaluated through Euler's transformation ₂F₁(A,B;C;z) = (1−z)^(C−A−B) ₂F₁(C−A, C−B; C; z),
 * which turns the bracket into 1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z): no parameter grows
 * with x, so the series converges fast and nothing overflows for frequent buyers. At a = 1 the
 * formula is 0/0; within 1e-5 of it, the mean of a = 1 ± 2e-5 (the function is smooth in a).
 */
export function expectedPurchases(params: BgnbdParams, x: number, tx: number, T: number, t: number): number {
  if (t <= 0) return 0;
  if (Math.abs(params.a - 1) < 1e-5) {
    const below = expectedPurchases({ ...params, a: 1 - 2e-5 }, x, tx, T, t);
    const above = expectedPurchases({ ...params, a: 1 + 2e-5 }, x, tx, T, t);
    return (below + above) / 2;
  }
  const { r, alpha, a, b } = params;
  const z = t / (alpha + T + t);
  const tail = (1 - z) ** (a - 1) * hypergeometric2F1(a + b - 1 - r, a - 1, a + b + x - 1, z);
  return ((a + b + x - 1) / (a - 1)) * (1 - tail) * probabilityAlive(params, x, tx, T);
}

/**
 * Median days from the end of the observation to the next purchase, given the customer is
 * still active. Active customers buy at rate λ whose posterior is Gamma(r+x, α+T) — the
 * model's prior blended with the customer's own purchase history — so the wait W has
 * P(W > w) = ((α+T)/(α+T+w))^(r+x), and the median is (α+T)(2^(1/(r+x)) − 1). For a frequent
 * buyer it approaches their own mean time between purchases; for a new one, the population's.
 */
export function medianDaysToNextPurchase(params: BgnbdParams, x: number, T: number): number {
  return (params.alpha + T) * expm1(Math.LN2 / (params.r + x));
}
