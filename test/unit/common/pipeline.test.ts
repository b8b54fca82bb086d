import { pipeline, step } from '../../../services/common/pipeline';
import { dlq, drop, ok } from '../../../services/common/step-result';

const parse = step('parse', (text: string) => (text === '' ? drop('empty') : ok(Number(text))));
const positive = step('check-positive', (n: number) =>
  n > 0 ? ok(n) : dlq('must be positive', 'KUMIKI_INVALID_EVENT', { field: 'n' }),
);
const double = step('double', (n: number) => ok(n * 2));
const later = step('double-later', async (n: number) => ok(n * 2));

describe('a pipeline of steps', () => {
  it('runs its steps in order, each on the value before, and returns the last value', () => {
    const path = pipeline<string>().pipe(parse).pipe(positive).pipe(double);
    expect(path.names).toEqual(['parse', 'check-positive', 'double']);
    expect(path.run('21')).toEqual(ok(42));
  });

  it('stops at the first step that drops or dead-letters, naming it, and runs nothing after it', () => {
    const after = jest.fn((n: number) => ok(n));
    const path = pipeline<string>().pipe(parse).pipe(positive).pipe(step('after', after));
    expect(path.run('')).toEqual({ kind: 'drop', reason: 'empty', step: 'parse' });
    expect(path.run('-1')).toEqual({
      kind: 'dlq',
      reason: 'must be positive',
      code: 'KUMIKI_INVALID_EVENT',
      field: 'n',
      step: 'check-positive',
    });
    expect(after).not.toHaveBeenCalled();
  });

  it('stays synchronous until a step returns a promise, then goes on after it', async () => {
    const path = pipeline<string>().pipe(parse).pipe(later).pipe(positive).pipe(double);
    const running = path.run('5');
    expect(running).toBeInstanceOf(Promise);
    expect(await running).toEqual(ok(20));
    expect(await path.run('-5')).toMatchObject({ kind: 'dlq', step: 'check-positive' });
    expect(pipeline<string>().pipe(parse).run('5')).toEqual(ok(5));
  });

  it('lets a thrown error through: an outage or a bug is not a verdict on the input', () => {
    const failing = step('fetch', () => {
      throw new Error('registry down');
    });
    expect(() => pipeline<string>().pipe(failing).run('x')).toThrow('registry down');
  });
});
