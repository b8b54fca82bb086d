import { execFileSync } from 'node:child_process';
import path from 'node:path';

const heapGrowth = path.join(__dirname, '..', '..', '..', 'dist', 'services', 'profile-materializer', 'heap-growth.js');

/**
 * The largest heap a fresh Node process reaches with MATERIALIZER_HEAP_GROWTH_PERCENT = `percent`
 * while it keeps ~20 MB live and churns batches that outlive the young generation, as the
 * materializer's do. Run apart because V8 flags are process-wide.
 */
function peakHeapBytes(percent: number): number {
  const program = `
    require(${JSON.stringify(heapGrowth)}).limitHeapGrowth(${percent});
    const live = Array.from({ length: 300000 }, (_, i) => ({ i, s: 'k' + i }));
    const batches = new Array(40);
    let peak = 0;
    for (let round = 0; round < 400; round++) {
      batches[round % batches.length] = Array.from({ length: 10000 }, (_, i) => ({ round, i, s: 'v' + i }));
      peak = Math.max(peak, process.memoryUsage().heapTotal);
    }
    if (live.length !== 300000) throw new Error('the live set went away');
    process.stdout.write(String(peak));
  `;
  return Number(execFileSync(process.execPath, ['-e', program], { encoding: 'utf8' }));
}

describe('the materializer heap growth setting', () => {
  it('holds the heap lower than V8 left alone, so the flag still exists and takes effect', () => {
    const byDefault = peakHeapBytes(0);
    const limited = peakHeapBytes(20);
    expect(byDefault).toBeGreaterThan(100 * 2 ** 20);
    expect(limited).toBeLessThan(byDefault * 0.75);
  });
});
