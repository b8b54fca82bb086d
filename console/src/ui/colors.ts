/** Colour of the i-th series of a chart: distinct, colour-blind-safe (Okabe–Ito), readable on white. */
const palette = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#999999', '#F0E442'];

export function seriesColor(index: number): string {
  return palette[index % palette.length]!;
}

/** A blue of strength 0–1, for heatmap cells; text on it stays readable (see `inkOn`). */
export function heat(strength: number): string {
  const s = Math.max(0, Math.min(1, strength));
  const lightness = 97 - s * 62;
  return `hsl(210 70% ${lightness}%)`;
}

export function inkOn(strength: number): string {
  return strength > 0.55 ? '#ffffff' : '#10202f';
}
