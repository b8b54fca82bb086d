import type { Event } from '../../../../schemas';
import { resolveIdentityRules } from '../../../../services/identity-stitcher/identity/identity-rules';
import { IdentifierNormaliser } from '../../../../services/identity-stitcher/identity/normalise';
import { linkRequestOf, linkRequestStep } from '../../../../services/identity-stitcher/steps/link-request.step';
import { identifyEvent as event } from '../../../support/events';

const rules = resolveIdentityRules();
const normaliser = new IdentifierNormaliser(rules);

describe('the link request (first half of resolve-profile)', () => {
  it("reads the event's normalised identifiers, rule and provenance into its link request", () => {
    expect(linkRequestOf(event, rules, normaliser)).toEqual({
      kind: 'ok',
      value: {
        messageId: 'm-1',
        eventTime: 1_700_000_000_000,
        receivedAt: 1_700_000_000_500,
        rule: 'same-event',
        identifiers: [
          { type: 'user_id', value: 'u-1' },
          { type: 'anonymous_id', value: 'a-1' },
          { type: 'device_id', value: 'd-1' },
          { type: 'email', value: 'a@b.io' },
        ],
        previousId: undefined,
      },
    });
  });

  it('dead-letters an event whose context or traits is not a JSON object, naming the field and the message', () => {
    expect(linkRequestOf({ ...event, context: 'not json' }, rules, normaliser)).toMatchObject({
      kind: 'dlq',
      code: 'KUMIKI_INVALID_EVENT',
      field: 'context',
      messageId: 'm-1',
    });
    expect(linkRequestOf({ ...event, traits: '[1]' }, rules, normaliser)).toMatchObject({
      kind: 'dlq',
      field: 'traits',
    });
  });

  it('as a step, is named for the documented stage and keeps what the stitched event is written from', () => {
    const step = linkRequestStep(rules, normaliser);
    expect(step.name).toBe('resolve-profile');
    const own = Buffer.from('the record as written');
    expect(step.run({ event, ownSchemaRecord: own })).toMatchObject({ kind: 'ok', value: { written: own } });
    const withoutRecord = step.run({ event: event as Event, ownSchemaRecord: undefined });
    expect(withoutRecord).toMatchObject({ kind: 'ok', value: { written: event, request: { messageId: 'm-1' } } });
  });
});
