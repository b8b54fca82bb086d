import { RecordSets } from '../../../services/common/kafka/record-sets';
import type { MessageBatch } from '../../../services/common/kafka/messages';
import type { Resolution } from '../../../services/identity-stitcher/identity/identity-graph';
import { StitchedBatchOutputs, type OutputWriters } from '../../../services/identity-stitcher/stitched-batch';

/** Writers that record what they are asked to write, instead of encoding it. */
function recordingWriters(log: string[]): OutputWriters {
  return {
    stitched: (_records, key, head) => void log.push(`stitched ${key} at ${head.stitchedAt}`),
    change: (_records, key, value) => void log.push(`change ${value.kind} ${key} at ${value.changedAt}`),
    graphRecord: (_records, key) => void log.push(`graph ${key}`),
  };
}

const resolution = {
  profileId: 'p-1',
  linked: [{ type: 'user_id', value: 'u-1' }],
  changes: [{ kind: 'link', profileId: 'p-1' }],
  graphRecords: [{ identifier: { type: 'user_id', value: 'u-1' } }],
} as unknown as Resolution;

const batch = {
  topic: 'raw',
  partition: 2,
  messages: [{ offset: '10' }, { offset: '11' }, { offset: '12' }],
} as unknown as MessageBatch;

describe("a batch's outputs", () => {
  it("hold each resolved record's stitched event, changes and graph records, the drops by step and the rejections", () => {
    const log: string[] = [];
    const outputs = new StitchedBatchOutputs(recordingWriters(log), new Map(), 1_234);
    outputs.stitched(resolution, Buffer.from('x'));
    outputs.dropped('decode-avro-event');
    const rejected = {
      step: 'resolve-profile',
      code: 'KUMIKI_NO_IDENTIFIER',
      reason: 'r',
      origin: { value: Buffer.alloc(0) },
    } as const;
    outputs.rejected(rejected);
    const finished = outputs.finish(batch);
    expect(log).toEqual(['stitched p-1 at 1234', 'change link p-1 at 1234', 'graph user_id:u-1']);
    expect(finished).toMatchObject({
      topic: 'raw',
      partition: 2,
      size: 3,
      stitchedCount: 1,
      rejections: [rejected],
      drops: new Map([['decode-avro-event', 1]]),
      nextOffset: '13',
    });
    expect(finished.records).toBeInstanceOf(RecordSets);
  });
});
