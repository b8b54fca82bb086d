import type { ScoreQuality } from '../../common/predictions/model-reports';

/**
 * How good a score is at ranking who will buy, on held-out data (ScoreQuality): pure functions
 * of (score, label) pairs.
 */
/**
 * Exact AUC by ranks (Mann–Whitney U, ties given their mean rank) and decile figures over the
 * pairs sorted by score, highest first; deciles split the sorted pairs into ten parts of equal
 * size (the first ones one larger when the count is not a multiple of ten).
 */
export function scoreQuality(scores: Float64Array, labels: Uint8Array): ScoreQuality {
  const n = scores.length;
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((i, j) => scores[j]! - scores[i]!);
  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i]!;
  const negatives = n - positives;
  // Ranks ascending by score: position from the end; ties share the mean rank of their run.
  let rankSumPositives = 0;
  for (let start = 0; start < n; ) {
    let end = start;
    while (end + 1 < n && scores[order[end + 1]!] === scores[order[start]!]) end += 1;
    const meanRank = n - (start + end) / 2; // 1-based ascending rank of the run's middle
    for (let k = start; k <= end; k++) rankSumPositives += labels[order[k]!]! * meanRank;
    start = end + 1;
  }
  const auc =
    positives === 0 || negatives === 0
      ? null
      : (rankSumPositives - (positives * (positives + 1)) / 2) / (positives * negatives);
  const calibration: { decile: number; profiles: number; predicted: number; observed: number }[] = [];
  let at = 0;
  for (let decile = 1; decile <= 10; decile++) {
    const size = Math.floor(n / 10) + (decile <= n % 10 ? 1 : 0);
    let predicted = 0;
    let observed = 0;
    for (let k = at; k < at + size; k++) {
      predicted += scores[order[k]!]!;
      observed += labels[order[k]!]!;
    }
    calibration.push({
      decile,
      profiles: size,
      predicted: size ? predicted / size : 0,
      observed: size ? observed / size : 0,
    });
    at += size;
  }
  const rate = n ? positives / n : 0;
  return {
    profiles: n,
    positives,
    auc,
    topDecileLift: rate > 0 ? calibration[0]!.observed / rate : null,
    calibration,
  };
}
