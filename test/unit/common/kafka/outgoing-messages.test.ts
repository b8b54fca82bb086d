import { chunked, recordBytes } from '../../../../services/common/kafka/outgoing-messages';

const records = (topic: string, n: number) => ({
  topic,
  messages: Array.from({ length: n }, (_, i) => ({ key: `${topic}-${i}`, value: Buffer.alloc(100) })),
});

describe('sends split by size', () => {
  it('carry at most the byte bound each, keeping every record once and in order', () => {
    const chunks = chunked([records('a', 30), records('b', 5), records('c', 12)], 1_000);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      const bytes = chunk.flatMap((c) => c.messages).reduce((sum, m) => sum + recordBytes(m), 0);
      expect(bytes).toBeLessThanOrEqual(1_000);
    }
    expect(chunks.flat().flatMap((c) => c.messages.map((m) => m.key))).toEqual(
      [...records('a', 30).messages, ...records('b', 5).messages, ...records('c', 12).messages].map((m) => m.key),
    );
    expect(chunked([records('a', 0)])).toEqual([]);
  });

  it('send a record larger than the bound alone', () => {
    const big = { key: 'big', value: Buffer.alloc(5_000) };
    const small = { key: 's', value: Buffer.alloc(10) };
    expect(
      chunked([{ topic: 't', messages: [small, big, small] }], 1_000).map((chunk) =>
        chunk[0]!.messages.map((m) => m.key),
      ),
    ).toEqual([['s'], ['big'], ['s']]);
  });

  it('count strings in UTF-8 bytes and headers too', () => {
    expect(recordBytes({ key: 'é', value: 'ü'.repeat(10) })).toBe(2 + 20 + 24);
    expect(recordBytes({ key: null, value: null, headers: { code: '4001', stage: Buffer.from('decode') } })).toBe(
      24 + (4 + 4 + 10) + (5 + 6 + 10),
    );
  });
});
