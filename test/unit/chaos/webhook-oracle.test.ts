import type { SegmentChange } from '../../../schemas';
import { webhookId } from '../../../services/common/webhook-signature';
import { checkWebhooks, type Receipt } from '../../chaos/webhook-oracle';

/** The soak's webhook oracle must be able to fail: a lost change, a changed body, a reordering. */
const destinationId = 'dst_chaos';
const topic = 'run.segments';

function change(profileId: string, offset: number, kind: 'entered' | 'exited' = 'entered') {
  const value = { profileId, segmentId: 'seg_1', segmentName: 'engaged', change: kind, at: 0 } as SegmentChange;
  return { value, partition: 0, offset: String(offset) };
}
const id = (offset: number): string => webhookId(destinationId, topic, 0, String(offset));
const receipt = (offset: number, body = `body ${offset}`): Receipt => ({ id: id(offset), body });

test('every change received or withheld, duplicates counted apart, order per profile by first receipt', () => {
  const check = checkWebhooks({
    destinationId,
    topic,
    changes: [change('p1', 1), change('p1', 2, 'exited'), change('p2', 3), change('p1', 4)],
    // p1's change at 2 arrives twice (a retry after a kill): only its first receipt orders it.
    receipts: [receipt(1), receipt(2), receipt(4), receipt(2)],
    attempts: [{ destinationId, webhookId: id(3), outcome: 'withheld', error: 'no_consent: not granted: marketing' }],
  });
  expect(check).toEqual({
    changes: 4,
    delivered: 3,
    withheld: 1,
    undelivered: [],
    duplicates: 1,
    differingBodies: 0,
    unexpected: 0,
    invalid: 0,
    outOfOrder: [],
    reasons: { no_consent: 1 },
  });
});

test('a change neither received nor withheld, a changed body, a reordering and a bad signature are all found', () => {
  const check = checkWebhooks({
    destinationId,
    topic,
    changes: [change('p1', 1), change('p1', 2), change('p2', 3)],
    receipts: [receipt(2), receipt(1), receipt(2, 'another body'), { invalid: 'No matching signature found' }],
    // Another destination's withheld record does not count for this one.
    attempts: [{ destinationId: 'dst_other', webhookId: id(3), outcome: 'withheld', error: 'no_consent: x' }],
  });
  expect(check).toMatchObject({
    delivered: 2,
    withheld: 0,
    undelivered: [`entered engaged of p2 (partition 0 offset 3, ${id(3)})`],
    duplicates: 1,
    differingBodies: 1,
    invalid: 1,
    outOfOrder: ['p1: offset 2 arrived before 1'],
  });
});
