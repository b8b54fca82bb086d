import type { Batch } from 'kafkajs';
import { toIncomingMessages } from '../../../../services/common/kafka/incoming-messages';

const batch = (messages: object[]): Batch => ({ topic: 't', partition: 2, messages }) as unknown as Batch;
const record = (headers: object) => ({
  offset: '7',
  key: Buffer.from('k'),
  value: Buffer.from('v'),
  timestamp: '1700000000000',
  headers,
});

describe('fetched records as IncomingMessages', () => {
  it('keeps topic, partition, offset, key, value and time', () => {
    const [message] = toIncomingMessages(batch([record({})]));
    expect(message).toEqual({
      topic: 't',
      partition: 2,
      offset: '7',
      key: Buffer.from('k'),
      value: Buffer.from('v'),
      timestamp: '1700000000000',
      headers: {},
    });
  });

  it('gives each header its first value as a Buffer', () => {
    const [message] = toIncomingMessages(
      batch([
        record({
          source: Buffer.from('web'),
          text: 'plain',
          many: [Buffer.from('first'), Buffer.from('second')],
          none: undefined,
        }),
      ]),
    );
    expect(message!.headers).toEqual({
      source: Buffer.from('web'),
      text: Buffer.from('plain'),
      many: Buffer.from('first'),
      none: undefined,
    });
  });

  it('shares one empty, frozen headers object between records without headers', () => {
    const [a, b, c] = toIncomingMessages(batch([record({}), { ...record({}), headers: undefined }, record({})]));
    expect(a!.headers).toBe(b!.headers);
    expect(a!.headers).toBe(c!.headers);
    expect(Object.isFrozen(a!.headers)).toBe(true);
  });
});
