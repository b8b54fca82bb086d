import { recommend, recommendPopular } from '../../../../services/profile-materializer/predictions/recommendations';
import { scoreQuality } from '../../../../services/profile-materializer/predictions/model-quality';
import {
  fitLogistic,
  predictLogistic,
} from '../../../../services/profile-materializer/predictions/logistic-regression';
import { Random } from '../../../support/btyd-population';

describe('recommend', () => {
  const neighbours = [
    { item: 'a', other: 'b', score: 0.5 },
    { item: 'a', other: 'c', score: 0.2 },
    { item: 'd', other: 'c', score: 0.4 },
    { item: 'd', other: 'e', score: 0.6 },
    { item: 'z', other: 'y', score: 0.9 },
  ];

  it('sums the similarities to the profile’s products, never recommends what it bought or what is excluded, fills from popular', () => {
    const items = new Map([
      ['a', true],
      ['d', false],
    ]);
    // c: 0.2 + 0.4 = 0.6 ties e (0.6): the smaller id first; b 0.5; y is a neighbour of a product the profile never touched.
    expect(recommend(items, neighbours, ['a', 'p', 'q'], new Set(), 5)).toEqual(['c', 'e', 'b', 'p', 'q']);
    expect(recommend(items, neighbours, ['a', 'p', 'q'], new Set(['c', 'p']), 3)).toEqual(['e', 'b', 'q']);
    // Viewed but not bought may be recommended (d is a neighbour nobody has here; a was bought).
    expect(recommend(new Map([['z', false]]), neighbours, ['z'], new Set(), 2)).toEqual(['y', 'z']);
  });

  it('the baseline is the most popular products the profile has not bought', () => {
    expect(recommendPopular(new Map([['p', true]]), ['p', 'q', 'r'], new Set(['r']), 5)).toEqual(['q']);
  });
});

describe('scoreQuality', () => {
  it('computes AUC by ranks with ties at half, and deciles highest first', () => {
    // Buyers 0.9, 0.5, 0.2 against non-buyers 0.5, 0.1, 0.5: 0.9 beats all three; 0.5 ties two (half
    // each) and beats 0.1; 0.2 beats only 0.1 → (3 + 2 + 1) of 9 pairs.
    const quality = scoreQuality(
      Float64Array.from([0.9, 0.5, 0.2, 0.5, 0.1, 0.5]),
      Uint8Array.from([1, 1, 1, 0, 0, 0]),
    );
    expect(quality.auc).toBeCloseTo(6 / 9, 12);
    expect(quality.positives).toBe(3);
    expect(quality.calibration[0]).toEqual({ decile: 1, profiles: 1, predicted: 0.9, observed: 1 });
    expect(quality.topDecileLift).toBeCloseTo(1 / 0.5, 12);
    expect(scoreQuality(Float64Array.from([0.2, 0.3]), Uint8Array.from([0, 0])).auc).toBeNull();
  });
});

describe('fitLogistic', () => {
  it('recovers the coefficients of a simulated logistic model (within 4 standard errors of their large-sample spread)', () => {
    const random = new Random(5);
    const n = 40_000;
    const values = new Float64Array(n * 2);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const x1 = random.normal();
      const x2 = random.normal();
      values[i * 2] = x1;
      values[i * 2 + 1] = x2;
      labels[i] = random.next() < 1 / (1 + Math.exp(-(-1 + 0.8 * x1 - 0.5 * x2))) ? 1 : 0;
    }
    const model = fitLogistic({ features: ['x1', 'x2'], values, labels }, { l2: 0 });
    // Standard errors of these coefficients are about 1/sqrt(n · p(1-p) · var(x)) ≈ 0.013 here.
    const slope1 = model.weights[0]! / model.scales[0]!;
    const slope2 = model.weights[1]! / model.scales[1]!;
    expect(Math.abs(slope1 - 0.8)).toBeLessThan(4 * 0.013);
    expect(Math.abs(slope2 + 0.5)).toBeLessThan(4 * 0.013);
    const intercept = model.intercept - slope1 * model.means[0]! - slope2 * model.means[1]!;
    expect(Math.abs(intercept + 1)).toBeLessThan(4 * 0.013);
    expect(predictLogistic(model, [0, 0])).toBeCloseTo(1 / (1 + Math.exp(-intercept)), 12);
  });
});
