import { cutBelow, nestsDeeperThan, textNestsDeeperThan } from '../../../services/common/json-nesting';

describe('JSON nesting', () => {
  const nested = (depth: number): string => `${'{"a":'.repeat(depth - 1)}[1]${'}'.repeat(depth - 1)}`;

  it('counts the levels of objects and arrays, the outermost being 1', () => {
    for (const [text, depth] of [
      ['1', 0],
      ['"[[["', 0],
      ['{}', 1],
      ['[[],{}]', 2],
      [nested(64), 64],
      [nested(65), 65],
    ] as const) {
      expect([text.slice(0, 20), nestsDeeperThan(JSON.parse(text), depth - 1)]).toEqual([text.slice(0, 20), depth > 0]);
      expect(nestsDeeperThan(JSON.parse(text), depth)).toBe(false);
      expect(textNestsDeeperThan(text, depth - 1)).toBe(depth > 0);
      expect(textNestsDeeperThan(text, depth)).toBe(false);
    }
  });

  it('answers for any depth without overflowing the stack', () => {
    const text = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    expect(nestsDeeperThan(JSON.parse(text), 64)).toBe(true);
    expect(textNestsDeeperThan(text, 64)).toBe(true);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(textNestsDeeperThan(`{"a":"${'['.repeat(100)}\\"${'{'.repeat(100)}"}`, 1)).toBe(false);
    expect(textNestsDeeperThan('{"a":"\\\\",{"b":[]}}', 2)).toBe(true);
  });

  it('cuts what lies below the limit, keeping the rest', () => {
    expect(cutBelow({ a: [{ b: 1 }], c: 'x' }, 2)).toEqual({ a: ['[nested deeper than 2 levels]'], c: 'x' });
    expect(cutBelow({ a: [{ b: 1 }] }, 3)).toEqual({ a: [{ b: 1 }] });
  });
});
