import { LingerQueue } from '../../../services/common/linger-queue';

describe('LingerQueue', () => {
  it('sends what arrives within the linger as one batch and resolves each push with it', async () => {
    const sent: number[][] = [];
    const queue = new LingerQueue<number>({
      lingerMs: 20,
      maxBatch: 100,
      send: async (items) => void sent.push(items),
    });
    await Promise.all([queue.push(1), queue.push(2), queue.push(3)]);
    expect(sent).toEqual([[1, 2, 3]]);
  });

  it('sends a full batch at once and keeps batches in order, one at a time', async () => {
    const sent: number[][] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    const queue = new LingerQueue<number>({
      lingerMs: 10_000,
      maxBatch: 2,
      send: async (items) => {
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        sent.push(items);
        inFlight -= 1;
      },
    });
    await Promise.all([1, 2, 3, 4].map((n) => queue.push(n)));
    expect(sent).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(mostInFlight).toBe(1);
  });

  it('rejects every push of a failed batch and goes on with the next', async () => {
    let calls = 0;
    const queue = new LingerQueue<string>({
      lingerMs: 1,
      maxBatch: 2,
      send: async () => {
        calls += 1;
        if (calls === 1) throw new Error('broker away');
      },
    });
    const first = [queue.push('a'), queue.push('b')];
    await expect(first[0]).rejects.toThrow('broker away');
    await expect(first[1]).rejects.toThrow('broker away');
    await expect(queue.push('c')).resolves.toBeUndefined();
    expect(calls).toBe(2);
  });

  it('drain sends what is queued without waiting for the linger', async () => {
    const sent: string[][] = [];
    const queue = new LingerQueue<string>({
      lingerMs: 60_000,
      maxBatch: 100,
      send: async (items) => void sent.push(items),
    });
    const pushed = queue.push('x');
    await queue.drain();
    await pushed;
    expect(sent).toEqual([['x']]);
  });
});
