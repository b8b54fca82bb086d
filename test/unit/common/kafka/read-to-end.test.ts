import type { IncomingMessage } from '../../../../services/common/kafka/client';
import { ReadToEndProgress } from '../../../../services/common/kafka/read-to-end';

const records = (partition: number, from: number, to: number): IncomingMessage[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({
    topic: 't',
    partition,
    offset: String(from + i),
    key: null,
    value: null,
    timestamp: '0',
    headers: {},
  }));
const offsets = (messages: readonly IncomingMessage[]) => messages.map((m) => Number(m.offset));

describe('a read to the end across consumer restarts', () => {
  it('hands on every record once when a restarted consumer starts over', () => {
    const progress = new ReadToEndProgress(
      new Map([
        [0, 10n],
        [1, 4n],
      ]),
    );
    expect(offsets(progress.unseen(0, records(0, 0, 5)))).toEqual([0, 1, 2, 3, 4, 5]);
    progress.handedOn(0, '5');
    // Restart: the new generation resumes where the last one stopped, and anything fetched again is dropped.
    expect(progress.resumeAt()).toEqual([[0, '6']]);
    expect(offsets(progress.unseen(0, records(0, 3, 9)))).toEqual([6, 7, 8, 9]);
    expect(offsets(progress.unseen(1, records(1, 0, 3)))).toEqual([0, 1, 2, 3]);
  });

  it('is done once every partition is past its end, commit markers included', () => {
    const progress = new ReadToEndProgress(
      new Map([
        [0, 10n],
        [1, 4n],
      ]),
    );
    progress.passed(0, '9');
    expect(progress.done).toBe(false);
    progress.passed(1, '2');
    expect(progress.done).toBe(false);
    // The last offset is a commit marker: a batch of control records only.
    progress.passed(1, '3');
    expect(progress.done).toBe(true);
  });

  it('starts from the given offsets, for partitions that have records past them', () => {
    const progress = new ReadToEndProgress(
      new Map([[0, 10n]]),
      new Map([
        [0, '4'],
        [1, '7'],
      ]),
    );
    expect(progress.resumeAt()).toEqual([[0, '4']]);
    expect(offsets(progress.unseen(0, records(0, 2, 5)))).toEqual([4, 5]);
  });

  it('never moves a partition back', () => {
    const progress = new ReadToEndProgress(new Map([[0, 10n]]));
    progress.handedOn(0, '7');
    progress.handedOn(0, '3');
    expect(progress.resumeAt()).toEqual([[0, '8']]);
  });
});
