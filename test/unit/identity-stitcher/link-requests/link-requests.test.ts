import type { Event } from '../../../../schemas';
import { schema } from '../../../../schemas';
import { isRetriable } from '../../../../services/common/errors';
import { encodeFramed } from '../../../../services/common/registry';
import { resolveIdentityRules } from '../../../../services/identity-stitcher/identity/identity-rules';
import { IdentifierNormaliser } from '../../../../services/identity-stitcher/identity/normalise';
import { LinkRequestThreads } from '../../../../services/identity-stitcher/link-requests/link-request-threads';
import {
  packValues,
  RequestPacker,
  unpackRequests,
  valueAt,
} from '../../../../services/identity-stitcher/link-requests/packed';
import { LinkRequestReader } from '../../../../services/identity-stitcher/link-requests/read-link-requests';
import { linkRequestOf } from '../../../../services/identity-stitcher/steps/link-request.step';
import { identifyEvent } from '../../../support/events';

const rules = resolveIdentityRules();
const OWN_SCHEMA = 7;

function event(overrides: Partial<Event> = {}): Event {
  return { ...identifyEvent, context: '{"device":{"id":"d-1"},"traits":{"phone":"+1 415 555 2671"}}', ...overrides };
}

const avro = (value: Event, schemaId = OWN_SCHEMA): Buffer => encodeFramed(schemaId, schema('Event').type, value);

/** What the stitcher's own thread would ask of the graph for this event. */
function expectedRequest(value: Event) {
  const request = linkRequestOf(value, rules, new IdentifierNormaliser(rules));
  if (request.kind !== 'ok') throw new Error('test event has no request');
  return request.value;
}

describe('packed values and link requests', () => {
  it('carry every record value, empty ones included, and read back as views of one buffer', () => {
    const values = [Buffer.from('first'), null, Buffer.alloc(0), Buffer.from('fourth record')];
    const packed = packValues(values);
    expect(packed.bytes.byteLength).toBe(18);
    expect(values.map((_, i) => valueAt(packed, i).toString())).toEqual(['first', '', '', 'fourth record']);
    expect(valueAt(packed, 3).buffer).toBe(packed.bytes.buffer);
  });

  it('carry requests with their rule, previous id and identifiers, and nothing for records left out', () => {
    const alias = {
      messageId: 'm-2',
      eventTime: 2,
      receivedAt: 20,
      rule: 'alias',
      identifiers: [{ type: 'user_id', value: 'u-9' }],
      previousId: 'anon-9',
    };
    const plain = {
      messageId: 'm-3',
      eventTime: 3.5,
      receivedAt: 30.5,
      rule: 'same-event',
      identifiers: [
        { type: 'email', value: 'x@y.io' },
        { type: 'device_id', value: 'd' },
      ],
      previousId: undefined,
    };
    const bare = {
      messageId: 'm-4',
      eventTime: 4,
      receivedAt: 40,
      rule: 'alias',
      identifiers: [],
      previousId: undefined,
    };
    const packer = new RequestPacker(5);
    packer.set(1, alias);
    packer.set(2, plain);
    packer.set(4, bare);
    expect(unpackRequests(packer.finish())).toEqual([undefined, alias, plain, undefined, bare]);
  });
});

describe('LinkRequestReader', () => {
  const reader = new LinkRequestReader(rules);

  it('gives records written with our Event schema the request the stitcher would build itself', () => {
    const events = [
      event(),
      event({ messageId: 'm-2', type: 'alias', previousId: ' Visitor-7 ', anonymousId: null }),
      event({ messageId: 'm-3', traits: '{}', context: '{}' }),
    ];
    const requests = unpackRequests(reader.read(packValues(events.map((e) => avro(e))), OWN_SCHEMA));
    expect(requests).toEqual(events.map(expectedRequest));
    expect(requests[1]).toMatchObject({ rule: 'alias', previousId: 'Visitor-7' });
  });

  it('leaves every other record to the stitcher: other writer schemas, bad bytes, empty values, dead letters', () => {
    const good = avro(event());
    const values = [
      avro(event(), OWN_SCHEMA + 1),
      Buffer.from('{"messageId":"json"}'),
      Buffer.concat([good.subarray(0, 5), Buffer.from([0xff, 0xff, 0xff])]),
      null,
      good.subarray(0, 5),
      avro(event({ context: 'not json' })),
      good,
    ];
    const requests = unpackRequests(reader.read(packValues(values), OWN_SCHEMA));
    expect(requests).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      expectedRequest(event()),
    ]);
  });
});

describe('LinkRequestThreads (the compiled worker, built by npm test)', () => {
  it('reads batches on a thread of their own, and a thread that dies fails its job retriably while the next read starts another', async () => {
    const threads = new LinkRequestThreads(2, rules);
    try {
      const batches = [0, 1, 2].map((b) =>
        Array.from({ length: 50 }, (_, i) => event({ messageId: `m-${b}-${i}`, userId: `u-${i}` })),
      );
      const read = await Promise.all(
        batches.map((batch) =>
          threads.read(
            batch.map((e) => avro(e)),
            OWN_SCHEMA,
          ),
        ),
      );
      expect(read).toEqual(batches.map((batch) => batch.map(expectedRequest)));

      // Big enough that the thread is still reading it when it is stopped.
      const pending = threads.read(
        Array.from({ length: 20_000 }, (_, i) => avro(event({ messageId: `big-${i}` }))),
        OWN_SCHEMA,
      );
      await threads.stop();
      const failure = await pending.then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(Error);
      expect(isRetriable(failure)).toBe(true);
      expect(await threads.read([avro(event())], OWN_SCHEMA)).toEqual([expectedRequest(event())]);
    } finally {
      await threads.stop();
    }
  });
});
