import { startPipeline, type RunningPipeline } from '../../support/pipeline';
import { sendEvents } from '../../support/privacy';
import { uniqueName } from '../../support/stack-env';
import { waitFor } from '../../support/wait-for';

/**
 * An amount events_store cannot hold (revenue is Decimal(18, 4): 14 digits before the point) is
 * bad input like any other: the collector takes any JSON properties, so such an order reaches the
 * profile-materializer, which dead-letters it with the field named and goes on with the events
 * after it, instead of failing its chunk's insert for good and stopping.
 */
jest.setTimeout(300_000);

const run = uniqueName('amounts');
let pipeline: RunningPipeline;

beforeAll(async () => {
  pipeline = await startPipeline();
});

afterAll(async () => {
  await pipeline?.stop();
});

it('dead-letters an order whose revenue has more digits than events_store holds, and stores the events after it', async () => {
  const userId = `ann-${run}`;
  const track = (messageId: string, properties: Record<string, unknown>) => ({
    type: 'track',
    messageId,
    userId,
    event: 'Order Completed',
    properties,
  });
  await sendEvents(pipeline, [
    track(`${run}-huge`, { order_id: `${run}-o1`, revenue: 1e15, currency: 'USD' }),
    track(`${run}-largest`, { order_id: `${run}-o2`, revenue: '99999999999999.9999', currency: 'USD' }),
    track(`${run}-after`, { order_id: `${run}-o3`, revenue: 12.5, currency: 'USD' }),
  ]);
  const stored = await waitFor(
    async () => {
      const rows = await pipeline.sql<{ message_id: string; revenue: string }>(
        'SELECT message_id, toString(revenue) AS revenue FROM events WHERE user_id = {u:String} ORDER BY message_id',
        { u: userId },
      );
      expect(rows).toHaveLength(2);
      return rows;
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );
  expect(stored).toEqual([
    { message_id: `${run}-after`, revenue: '12.5' },
    { message_id: `${run}-largest`, revenue: '99999999999999.9999' },
  ]);
  const [dead] = await waitFor(
    async () => {
      const rows = await pipeline.sql<{ service: string; code: string; reason: string }>(
        'SELECT service, code, reason FROM dead_letters WHERE position(original_value, {m:String}) > 0',
        { m: `${run}-huge` },
      );
      expect(rows).toHaveLength(1);
      return rows;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  expect(dead).toMatchObject({ service: 'profile-materializer', code: 'KUMIKI_INVALID_EVENT' });
  expect(dead!.reason).toContain('revenue');
});
