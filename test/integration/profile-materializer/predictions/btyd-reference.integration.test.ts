import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  bgnbdLogLikelihood,
  expectedPurchases,
  fitBgnbd,
  probabilityAlive,
  type BgnbdData,
  type BgnbdParams,
} from '../../../../services/profile-materializer/predictions/bgnbd';
import {
  fitGammaGamma,
  gammaGammaLogLikelihood,
  type GammaGammaParams,
} from '../../../../services/profile-materializer/predictions/gamma-gamma';
import { simulateCustomers } from '../../../support/btyd-population';

/**
 * The TypeScript likelihoods, closed forms and fits against an independent reference:
 * test/reference/btyd_reference.py, the published formulas written with SciPy (gammaln, betaln,
 * hyp2f1 untransformed) and fitted with SciPy's L-BFGS-B. Needs python3 with scipy (.ci/run
 * installs it); without it this test fails and says how to install it.
 *
 * Tolerances: likelihoods and closed forms are the same numbers computed two ways, so they must
 * agree to 1e-9 relative (double precision leaves room for the different evaluation orders and
 * the hypergeometric transformation). Two optimisers reach the maximum to within their
 * tolerances, so the maxima must agree to 1e-6 in log-likelihood per customer and the
 * parameters to 1e-3 relative (the likelihood is flat near its maximum, so parameters move more
 * than the likelihood does).
 */
const script = path.join(__dirname, '..', '..', '..', 'reference', 'btyd_reference.py');

interface Reference {
  bgnbd: { logLikelihood: number; pAlive: number[]; expected: Record<string, number[]> }[];
  gammaGamma: number[];
  fits: { bgnbd: { params: number[]; logLikelihood: number }; gammaGamma: { params: number[]; logLikelihood: number } };
}

function reference(request: unknown): Reference {
  const result = spawnSync('python3', [script], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.error) throw new Error(`python3 could not run (${result.error.message}); install python3 with scipy`);
  if (result.status !== 0) throw new Error(`the Python reference failed (exit ${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout) as Reference;
}

function closeTo(actual: number, expected: number, relative: number): void {
  const scale = Math.max(Math.abs(expected), 1e-300);
  if (Math.abs(actual - expected) / scale > relative)
    throw new Error(`${actual} differs from the reference ${expected} by more than ${relative} relative`);
}

// Whole days, as the product summarises customers; a histogram of (x, t_x, T).
const customers = simulateCustomers(
  { r: 0.4, alpha: 15, a: 0.9, b: 2.5, p: 4, q: 3, gamma: 60 },
  { customers: 3_000, minT: 1, maxT: 400, seed: 11 },
);
const histogram = new Map<string, number>();
for (const c of customers) {
  const days = new Set(c.purchases.map(Math.floor));
  const key = `${days.size - 1},${Math.floor(c.purchases.at(-1)!)},${Math.floor(c.T)}`;
  histogram.set(key, (histogram.get(key) ?? 0) + 1);
}
const rows = [...histogram].map(
  ([key, count]) => [...key.split(',').map(Number), count] as [number, number, number, number],
);
const data: BgnbdData = {
  x: Float64Array.from(rows, (r) => r[0]),
  tx: Float64Array.from(rows, (r) => r[1]),
  T: Float64Array.from(rows, (r) => r[2]),
  count: Float64Array.from(rows, (r) => r[3]),
};
const repeaters = customers.filter((c) => c.purchases.length > 1);
const gg = {
  x: Float64Array.from(repeaters, (c) => c.purchases.length - 1),
  m: Float64Array.from(repeaters, (c) => c.values.slice(1).reduce((s, v) => s + v, 0) / (c.values.length - 1)),
};
const bgParams: BgnbdParams[] = [
  { r: 0.4, alpha: 15, a: 0.9, b: 2.5 },
  { r: 2.5, alpha: 120, a: 3.5, b: 0.7 },
  { r: 0.05, alpha: 0.8, a: 0.2, b: 40 },
];
const ggParams: GammaGammaParams[] = [
  { p: 4, q: 3, gamma: 60 },
  { p: 0.7, q: 12, gamma: 900 },
];
const horizons = [30, 90, 365];

describe('BG/NBD and Gamma-Gamma against the SciPy reference', () => {
  const answer = reference({
    bgnbd: {
      x: [...data.x],
      tx: [...data.tx],
      T: [...data.T],
      count: [...data.count],
      params: bgParams.map((p) => [p.r, p.alpha, p.a, p.b]),
    },
    gammaGamma: { x: [...gg.x], m: [...gg.m], params: ggParams.map((p) => [p.p, p.q, p.gamma]) },
    horizons,
  });

  it('computes the same log-likelihoods', () => {
    const bg = bgnbdLogLikelihood(data);
    for (const [k, params] of bgParams.entries()) closeTo(bg(params), answer.bgnbd[k]!.logLikelihood, 1e-9);
    const ggll = gammaGammaLogLikelihood(gg);
    for (const [k, params] of ggParams.entries()) closeTo(ggll(params), answer.gammaGamma[k]!, 1e-9);
  });

  it('computes the same P(alive) and expected purchases (hypergeometric function included)', () => {
    bgParams.forEach((params, k) => {
      for (let i = 0; i < rows.length; i++) {
        const [x, tx, T] = rows[i]!;
        closeTo(probabilityAlive(params, x, tx, T), answer.bgnbd[k]!.pAlive[i]!, 1e-9);
        for (const t of horizons)
          closeTo(expectedPurchases(params, x, tx, T, t), answer.bgnbd[k]!.expected[String(t)]![i]!, 1e-9);
      }
    });
  });

  it('finds the same maximum as SciPy’s optimiser', () => {
    const bgFit = fitBgnbd(data);
    const bgRef = answer.fits.bgnbd;
    expect((bgFit.logLikelihood - bgRef.logLikelihood) / bgFit.customers).toBeGreaterThan(-1e-6);
    (['r', 'alpha', 'a', 'b'] as const).forEach((key, k) => {
      closeTo(bgFit.params[key], bgRef.params[k]!, 1e-3);
    });
    const ggFit = fitGammaGamma(gg);
    const ggRef = answer.fits.gammaGamma;
    expect((ggFit.logLikelihood - ggRef.logLikelihood) / ggFit.customers).toBeGreaterThan(-1e-6);
    (['p', 'q', 'gamma'] as const).forEach((key, k) => {
      closeTo(ggFit.params[key], ggRef.params[k]!, 1e-3);
    });
  });
});
