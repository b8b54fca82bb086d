import type * as avro from 'avsc';
import { DependencyUnavailableError } from '../../../../services/common/errors';
import type { IncomingMessage } from '../../../../services/common/kafka/messages';
import { decodeRecordStep } from '../../../../services/profile-materializer/steps/decode-record.step';

const readers = {
  stitched: { name: 'stitched' } as unknown as avro.Type,
  change: { name: 'change' } as unknown as avro.Type,
};

function record(topic: string, value: string | null): IncomingMessage {
  return {
    topic,
    partition: 0,
    offset: '1',
    key: null,
    value: value === null ? null : Buffer.from(value),
    headers: {},
    timestamp: '0',
  };
}

/** Records carried as JSON; the reader used is recorded. */
function step(decodeLater = false) {
  const used: string[] = [];
  const decode = <T>(buffer: Buffer, reader: avro.Type) => {
    used.push((reader as unknown as { name: string }).name);
    const value = { value: JSON.parse(buffer.toString()) as T };
    return decodeLater ? Promise.resolve(value) : value;
  };
  return { used, step: decodeRecordStep({ decode, readers, topics: { changes: 'changes' } }) };
}

describe('decode-record', () => {
  it('reads a change or a stitched event by the topic, at once when the schema is known', () => {
    const { used, step: decodeRecord } = step();
    expect(decodeRecord.name).toBe('decode-record');
    expect(decodeRecord.run(record('changes', '{"kind":"link"}'))).toEqual({
      kind: 'ok',
      value: { kind: 'change', change: { kind: 'link' } },
    });
    expect(decodeRecord.run(record('stitched', '{"profileId":"p"}'))).toEqual({
      kind: 'ok',
      value: { kind: 'event', event: { profileId: 'p' } },
    });
    expect(used).toEqual(['change', 'stitched']);
  });

  it('drops a tombstone and dead-letters bytes no reader can use, naming the type', async () => {
    const { step: decodeRecord } = step();
    expect(decodeRecord.run(record('changes', null))).toEqual({ kind: 'drop', reason: 'tombstone' });
    expect(decodeRecord.run(record('stitched', 'not json'))).toMatchObject({
      kind: 'dlq',
      code: 'KUMIKI_INVALID_EVENT',
      reason: expect.stringMatching(/^cannot decode a StitchedEvent: /),
    });
    const later = step(true).step;
    await expect(later.run(record('changes', '{"kind":"merge"}'))).resolves.toEqual({
      kind: 'ok',
      value: { kind: 'change', change: { kind: 'merge' } },
    });
  });

  it('dead-letters a record whose writer schema could not be fetched, as the materializer always has', async () => {
    const failing = decodeRecordStep({
      decode: () => Promise.reject(new DependencyUnavailableError('registry down')),
      readers,
      topics: { changes: 'changes' },
    });
    await expect(failing.run(record('changes', '{}'))).resolves.toMatchObject({
      kind: 'dlq',
      reason: 'cannot decode a IdentityChange: registry down',
    });
  });
});
