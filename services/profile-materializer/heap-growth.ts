import v8 from 'node:v8';

/**
 * After a full collection V8 lets the old generation grow to as much as four times what stayed
 * live before it collects again. The materializer's batches outlive the young generation and die
 * soon after, so most of that headroom fills with garbage. A fixed, smaller growth keeps the peak
 * lower for more full collections (MATERIALIZER_HEAP_GROWTH_PERCENT, docs/benchmarks.md). It is
 * set from inside because Node refuses the flag in NODE_OPTIONS, and V8 reads it at every
 * collection, so setting it at start is enough.
 */
export function limitHeapGrowth(percent: number): void {
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}
