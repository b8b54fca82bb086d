import { chunked } from '../../services/common/kafka/transactions';

describe('transaction sends', () => {
  it('are split so no send carries more than the byte bound, keeping every record once and in order', () => {
    const records = (topic: string, n: number) => ({ topic, messages: Array.from({ length: n }, (_, i) => ({ key: `${topic}-${i}`, value: Buffer.alloc(100) })) });
    const chunks = chunked([records('a', 30), records('b', 5), records('c', 12)], 1_000);
    for (const chunk of chunks) {
      const bytes = chunk.flatMap((c) => c.messages).reduce((sum, m) => sum + (m.value?.length ?? 0) + String(m.key).length + 64, 0);
      expect(bytes).toBeLessThanOrEqual(1_000);
    }
    expect(chunks.flat().flatMap((c) => c.messages.map((m) => m.key))).toEqual([...records('a', 30).messages, ...records('b', 5).messages, ...records('c', 12).messages].map((m) => m.key));
    expect(chunked([records('a', 0)])).toEqual([]);
  });
});
