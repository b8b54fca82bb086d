import { importPath } from '../../../../services/cli/import/import-path';

const path = importPath({
  mapping: new Map([
    ['userId', 'Customer'],
    ['order_id', 'Order'],
    ['revenue', 'Total'],
  ]),
  messageIdOf: (line) => `imp-${line}`,
  source: { source: 'pos.csv', channel: 'import' },
  now: () => 1_700_000_000_000,
});

describe("an imported record's path", () => {
  it('goes read-record → map-record → validate-message → normalise-event', () => {
    expect(path.names).toEqual(['read-record', 'map-record', 'validate-message', 'normalise-event']);
    expect(path.runNow({ line: 2, values: { Customer: 'c-1', Order: 'o-1', Total: '9.5' } })).toMatchObject({
      kind: 'ok',
      value: {
        messageId: 'imp-2',
        type: 'track',
        event: 'Order Completed',
        userId: 'c-1',
        channel: 'import',
        source: 'pos.csv',
        receivedAt: 1_700_000_000_000,
        properties: '{"order_id":"o-1","revenue":9.5}',
      },
    });
  });

  it('stops at the step that rejects the record, naming it and the field', () => {
    expect(path.runNow({ line: 3, error: 'has 2 fields, the header has 3' })).toMatchObject({
      kind: 'dlq',
      step: 'read-record',
      reason: 'line has 2 fields, the header has 3',
    });
    expect(path.runNow({ line: 4, values: { Customer: 'c-1', Order: 'o-1', Total: 'lots' } })).toMatchObject({
      kind: 'dlq',
      step: 'map-record',
      field: 'properties.revenue',
    });
    expect(path.runNow({ line: 5, values: { Order: 'o-1' } })).toMatchObject({
      kind: 'dlq',
      step: 'validate-message',
      code: 'KUMIKI_MISSING_FIELD',
      field: 'userId',
    });
  });
});
