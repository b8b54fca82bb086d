import { mulberry32 } from '../../services/cli/demo/demo-population';

/**
 * Synthetic customers drawn from known BG/NBD and Gamma-Gamma parameters, by simulating the
 * processes the models describe (not from their likelihoods), so that a fit recovering the
 * parameters checks the likelihood, the optimiser and their agreement with the story.
 */
export interface Truth {
  readonly r: number;
  readonly alpha: number;
  readonly a: number;
  readonly b: number;
  readonly p: number;
  readonly q: number;
  readonly gamma: number;
}

export interface SimulatedCustomer {
  /** Purchase times in days from the first purchase (0 first), up to T. */
  readonly purchases: number[];
  /** Value of each purchase (same order). */
  readonly values: number[];
  readonly T: number;
  /** Whether the customer is still active at T. */
  readonly alive: boolean;
  /** Purchases in (T, T + horizon] (the holdout), when asked for. */
  readonly holdout: number;
}

export class Random {
  private readonly uniform: () => number;
  private spare: number | undefined;
  constructor(seed: number) {
    this.uniform = mulberry32(seed);
  }
  next(): number {
    return Math.max(this.uniform(), 1e-300);
  }
  normal(): number {
    if (this.spare !== undefined) {
      const value = this.spare;
      this.spare = undefined;
      return value;
    }
    const u = this.next();
    const v = this.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  }
  /** Gamma(shape, rate) by Marsaglia & Tsang (2000); shape < 1 through the boost U^(1/shape). */
  gamma(shape: number, rate: number): number {
    if (shape < 1) return this.gamma(shape + 1, rate) * this.next() ** (1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      const z = this.normal();
      const v = (1 + c * z) ** 3;
      if (v <= 0) continue;
      if (Math.log(this.next()) < 0.5 * z * z + d - d * v + d * Math.log(v)) return (d * v) / rate;
    }
  }
  beta(a: number, b: number): number {
    const x = this.gamma(a, 1);
    return x / (x + this.gamma(b, 1));
  }
  exponential(rate: number): number {
    return -Math.log(this.next()) / rate;
  }
}

/**
 * `customers` customers whose first purchase is at day 0 and whose observation lasts T days,
 * T uniform in [minT, maxT] (cohorts acquired over time), continuing `horizon` days past T.
 */
export function simulateCustomers(
  truth: Truth,
  options: { customers: number; minT: number; maxT: number; seed: number; horizon?: number },
): SimulatedCustomer[] {
  const random = new Random(options.seed);
  const horizon = options.horizon ?? 0;
  const out: SimulatedCustomer[] = [];
  for (let i = 0; i < options.customers; i++) {
    const T = options.minT + (options.maxT - options.minT) * random.next();
    const lambda = random.gamma(truth.r, truth.alpha);
    const dropout = random.beta(truth.a, truth.b);
    const nu = random.gamma(truth.q, truth.gamma);
    const value = (): number => random.gamma(truth.p, nu);
    const purchases = [0];
    const values = [value()];
    let holdout = 0;
    // Dropping out can happen right after each repeat purchase (never after the first: FHL 2005).
    let droppedAt = Number.POSITIVE_INFINITY;
    let at = 0;
    for (;;) {
      at += random.exponential(lambda);
      if (at > T + horizon) break;
      if (at <= T) {
        purchases.push(at);
        values.push(value());
      } else holdout += 1;
      if (random.next() < dropout) {
        droppedAt = at;
        break;
      }
    }
    out.push({ purchases, values, T, alive: droppedAt > T, holdout });
  }
  return out;
}
