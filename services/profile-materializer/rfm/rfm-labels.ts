/**
 * The RFM label of a profile, from its R score and its FM score (the mean of F and M,
 * rounded half up: FM = floor((F + M + 1) / 2)). The grid is total (every one of the 25
 * cells has exactly one label) and is the single source of the mapping: the SQL receives it
 * as an array parameter (`labelGrid()`), docs/rfm.md prints it.
 *
 *            FM=1               FM=2                 FM=3                 FM=4              FM=5
 *   R=5  New customers      Potential loyalists  Potential loyalists  Champions         Champions
 *   R=4  Promising          Potential loyalists  Potential loyalists  Loyal customers   Loyal customers
 *   R=3  About to sleep     About to sleep       Need attention       Loyal customers   Loyal customers
 *   R=2  Hibernating        Hibernating          At risk              At risk           Can't lose them
 *   R=1  Lost               Lost                 At risk              At risk           Can't lose them
 */
export const rfmLabels = [
  'Champions',
  'Loyal customers',
  'Potential loyalists',
  'New customers',
  'Promising',
  'Need attention',
  'About to sleep',
  'At risk',
  "Can't lose them",
  'Hibernating',
  'Lost',
] as const;

export type RfmLabel = (typeof rfmLabels)[number];

/** Rows R=1..5, columns FM=1..5. */
const grid: readonly (readonly RfmLabel[])[] = [
  /* R=1 */ ['Lost', 'Lost', 'At risk', 'At risk', "Can't lose them"],
  /* R=2 */ ['Hibernating', 'Hibernating', 'At risk', 'At risk', "Can't lose them"],
  /* R=3 */ ['About to sleep', 'About to sleep', 'Need attention', 'Loyal customers', 'Loyal customers'],
  /* R=4 */ ['Promising', 'Potential loyalists', 'Potential loyalists', 'Loyal customers', 'Loyal customers'],
  /* R=5 */ ['New customers', 'Potential loyalists', 'Potential loyalists', 'Champions', 'Champions'],
];

/** FM = mean of F and M rounded half up. */
export function fmScore(f: number, m: number): number {
  return Math.floor((f + m + 1) / 2);
}

export function rfmLabel(r: number, f: number, m: number): RfmLabel {
  const label = grid[r - 1]?.[fmScore(f, m) - 1];
  if (!label) throw new RangeError(`RFM scores must be 1-5, got R=${r} F=${f} M=${m}`);
  return label;
}

/** The grid flattened row by row: index (R-1)*5 + (FM-1). Passed to SQL as `{label_grid:Array(String)}`. */
export function labelGrid(): string[] {
  return grid.flatMap((row) => [...row]);
}
