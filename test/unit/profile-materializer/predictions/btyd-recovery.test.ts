import {
  expectedPurchases,
  fitBgnbd,
  medianDaysToNextPurchase,
  probabilityAlive,
  type BgnbdData,
} from '../../../../services/profile-materializer/predictions/bgnbd';
import { expectedOrderValue, fitGammaGamma } from '../../../../services/profile-materializer/predictions/gamma-gamma';
import { simulateCustomers, type SimulatedCustomer, type Truth } from '../../../support/btyd-population';

/**
 * The fits against populations simulated from known parameters (test/support/btyd-population.ts
 * simulates the purchase, dropout and spending processes, not the likelihood).
 *
 * "Within sampling error": a maximum-likelihood estimate is asymptotically normal around the
 * truth with the covariance given by the inverse observed information, so each parameter must
 * lie within 4 of its standard errors of the truth (for one parameter a miss has probability
 * 6e-5; the seeds are fixed, so the test is deterministic). The test has power only if those
 * errors are small: 20,000 customers give standard errors under 10 % of each parameter, which
 * the test asserts too, so a loose fit cannot pass by being uncertain.
 */
const truth: Truth = { r: 0.6, alpha: 25, a: 0.8, b: 3.2, p: 5, q: 4, gamma: 30 };

function summarise(customers: readonly SimulatedCustomer[]): BgnbdData {
  return {
    x: Float64Array.from(customers, (c) => c.purchases.length - 1),
    tx: Float64Array.from(customers, (c) => c.purchases.at(-1)!),
    T: Float64Array.from(customers, (c) => c.T),
    count: new Float64Array(customers.length).fill(1),
  };
}

const population = simulateCustomers(truth, { customers: 20_000, minT: 60, maxT: 720, seed: 7, horizon: 90 });

describe('BG/NBD on a simulated population', () => {
  const fit = fitBgnbd(summarise(population));

  it('recovers r, α, a, b within 4 standard errors, the errors under 10 %', () => {
    expect(fit.converged).toBe(true);
    expect(fit.customers).toBe(20_000);
    expect(fit.standardErrors).not.toBeNull();
    for (const key of ['r', 'alpha', 'a', 'b'] as const) {
      const error = fit.standardErrors![key];
      expect(error / truth[key]).toBeLessThan(0.1);
      expect(Math.abs(fit.params[key] - truth[key])).toBeLessThan(4 * error);
    }
  });

  it('predicts the holdout: expected purchases in the next 90 days match the simulated ones in total', () => {
    // With the true parameters, E[Y(90) | history] is the conditional mean of each customer's
    // holdout count, so the total difference is a sum of 20,000 independent zero-mean errors.
    const residuals = population.map(
      (c) => c.holdout - expectedPurchases(truth, c.purchases.length - 1, c.purchases.at(-1)!, c.T, 90),
    );
    const total = residuals.reduce((s, e) => s + e, 0);
    const spread = Math.sqrt(residuals.reduce((s, e) => s + e * e, 0));
    expect(Math.abs(total)).toBeLessThan(4 * spread);
    // …and the fitted model predicts the same total as the true one, within the same error.
    const fitted = population.reduce(
      (s, c) => s + expectedPurchases(fit.params, c.purchases.length - 1, c.purchases.at(-1)!, c.T, 90),
      0,
    );
    const actual = population.reduce((s, c) => s + c.holdout, 0);
    expect(Math.abs(fitted - actual)).toBeLessThan(4 * spread);
  });

  it('P(alive) is calibrated: its sum matches the number of customers still active', () => {
    const probabilities = population.map((c) =>
      probabilityAlive(truth, c.purchases.length - 1, c.purchases.at(-1)!, c.T),
    );
    const expected = probabilities.reduce((s, p) => s + p, 0);
    const variance = probabilities.reduce((s, p) => s + p * (1 - p), 0);
    const alive = population.filter((c) => c.alive).length;
    expect(Math.abs(alive - expected)).toBeLessThan(4 * Math.sqrt(variance));
  });

  it('gives the closed forms their limits: a one-time buyer is alive, nothing is expected in 0 days', () => {
    expect(probabilityAlive(fit.params, 0, 0, 300)).toBe(1);
    expect(expectedPurchases(fit.params, 3, 40, 100, 0)).toBe(0);
    // The median wait of an active customer halves the survival ((α+T)/(α+T+w))^(r+x).
    const w = medianDaysToNextPurchase(fit.params, 4, 120);
    expect(((fit.params.alpha + 120) / (fit.params.alpha + 120 + w)) ** (fit.params.r + 4)).toBeCloseTo(0.5, 12);
  });

  it('is smooth through a = 1, where the expectation formula is 0/0', () => {
    const near = (a: number): number => expectedPurchases({ ...truth, a }, 2, 50, 200, 30);
    expect(near(1)).toBeCloseTo((near(0.999) + near(1.001)) / 2, 6);
    expect(Number.isFinite(near(1))).toBe(true);
  });
});

describe('Gamma-Gamma on a simulated population', () => {
  const repeaters = population.filter((c) => c.purchases.length > 1);
  const x = Float64Array.from(repeaters, (c) => c.purchases.length - 1);
  // The mean of the repeat purchases' values (the first purchase is left out, as in the fit of the product).
  const m = Float64Array.from(repeaters, (c) => c.values.slice(1).reduce((s, v) => s + v, 0) / (c.values.length - 1));
  const fit = fitGammaGamma({ x, m });

  it('recovers p, q, γ within 4 standard errors, the errors under 15 %', () => {
    // Fewer customers (repeat buyers only) and a flatter likelihood in (q, γ): a 15 % bound.
    expect(repeaters.length).toBeGreaterThan(5_000);
    expect(fit.converged).toBe(true);
    for (const key of ['p', 'q', 'gamma'] as const) {
      const error = fit.standardErrors![key];
      expect(error / truth[key]).toBeLessThan(0.15);
      expect(Math.abs(fit.params[key] - truth[key])).toBeLessThan(4 * error);
    }
  });

  it('shrinks a customer towards the population mean, less so the more they bought', () => {
    const population = (truth.p * truth.gamma) / (truth.q - 1);
    expect(expectedOrderValue(truth, 0, 0)).toBeCloseTo(population, 12);
    const few = expectedOrderValue(truth, 1, 100);
    const many = expectedOrderValue(truth, 20, 100);
    expect(few).toBeGreaterThan(population);
    expect(many).toBeGreaterThan(few);
    expect(many).toBeLessThan(100);
  });
});
