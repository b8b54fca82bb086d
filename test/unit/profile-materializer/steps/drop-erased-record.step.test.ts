import type { IdentityChange, StitchedEvent } from '../../../../schemas';
import { PrivacyKey } from '../../../../services/common/privacy/privacy-key';
import { ErasedPeople } from '../../../../services/profile-materializer/privacy/erased-people';
import { dropErasedRecordStep } from '../../../../services/profile-materializer/steps/drop-erased-record.step';

const key = PrivacyKey.fromHex('44'.repeat(32));
const event = (profileId: string, stitchedAt: number, email: string) =>
  ({ profileId, stitchedAt, identifiers: [{ type: 'email', value: email }] }) as unknown as StitchedEvent;
const merge = (profileId: string, absorbed: string[], changedAt: number) =>
  ({ profileId, absorbedProfileIds: absorbed, changedAt, identifiers: [] }) as unknown as IdentityChange;

/** The step is synchronous. */
const kindOf = (result: unknown) => (result as { kind: string }).kind;

describe('drop-erased-record', () => {
  const erased = new ErasedPeople(key);
  erased.begin(['p-ann'], [{ type: 'email', value: 'ann@x.io' }], 5_000);
  erased.end(['p-ann']);
  const step = dropErasedRecordStep(erased);

  it("drops an erased person's records made before the erasure, by profile id or identifier", () => {
    expect(step.name).toBe('drop-erased-record');
    expect(step.run({ kind: 'event', event: event('p-ann', 4_000, 'other@x.io') })).toEqual({
      kind: 'drop',
      reason: 'an erased person',
    });
    expect(kindOf(step.run({ kind: 'event', event: event('p-new', 4_000, 'ann@x.io') }))).toBe('drop');
    expect(kindOf(step.run({ kind: 'change', change: merge('p-bob', ['p-ann'], 4_500) }))).toBe('drop');
  });

  it('keeps records made after the erasure (a new person with the old email) and everyone else', () => {
    const fresh = { kind: 'event' as const, event: event('p-new', 6_000, 'ann@x.io') };
    expect(step.run(fresh)).toEqual({ kind: 'ok', value: fresh });
    expect(kindOf(step.run({ kind: 'event', event: event('p-bob', 4_000, 'bob@x.io') }))).toBe('ok');
    expect(kindOf(dropErasedRecordStep(undefined).run(fresh))).toBe('ok');
  });
});
