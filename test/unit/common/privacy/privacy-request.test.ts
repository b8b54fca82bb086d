import {
  checkPrivacyRequest,
  erases,
  requestKey,
  requestRecord,
  requestTypeOf,
} from '../../../../services/common/privacy/privacy-request';

const known = new Set(['email', 'user_id', 'salesforce_id']);

describe('checkPrivacyRequest (the same checks at every door)', () => {
  it('takes a request with its type, identifier and reason', () => {
    expect(
      checkPrivacyRequest({ type: 'erase', identifier: { type: 'email', value: 'a@b.io' }, reason: 'T-1' }, known),
    ).toEqual({
      ok: true,
      request: { type: 'erase', identifier: { type: 'email', value: 'a@b.io' }, reason: 'T-1' },
    });
  });

  it.each([
    [null, ''],
    [[], ''],
    [{ type: 'forget', identifier: { type: 'email', value: 'x' } }, 'type'],
    [{ type: 'erase' }, 'identifier'],
    [{ type: 'erase', identifier: { type: 'E-Mail', value: 'x' } }, 'identifier.type'],
    [{ type: 'erase', identifier: { type: 'emial', value: 'x' } }, 'identifier.type'],
    [{ type: 'erase', identifier: { type: 'email', value: '  ' } }, 'identifier.value'],
    [{ type: 'erase', identifier: { type: 'email', value: 'x'.repeat(513) } }, 'identifier.value'],
    [{ type: 'erase', identifier: { type: 'email', value: 'x' }, reason: 42 }, 'reason'],
  ])('refuses %j naming the field %j', (body, field) => {
    const checked = checkPrivacyRequest(body, known);
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.problem.field).toBe(field);
  });

  it('names the identifier types the installation knows when the type is unknown', () => {
    const checked = checkPrivacyRequest({ type: 'export', identifier: { type: 'emial', value: 'x' } }, known);
    expect(!checked.ok && checked.problem.message).toBe(
      'unknown identifier type "emial"; this installation knows email, salesforce_id, user_id',
    );
  });
});

describe('request records', () => {
  it('are phase requested, keyed by the identifier, the older kinds read as erase and export', () => {
    const record = requestRecord(
      { type: 'suppress_and_erase', identifier: { type: 'email', value: 'a@b.io' }, reason: null },
      { requestId: 'pr_1', requestedAt: 1, requestedBy: 'me' },
    );
    expect(record).toMatchObject({ phase: 'requested', kind: 'suppress_and_erase', subject: null });
    expect(requestKey(record)).toBe('email:a@b.io');
    expect(requestTypeOf('delete')).toBe('erase');
    expect(requestTypeOf('access')).toBe('export');
    expect([erases('erase'), erases('suppress_and_erase'), erases('suppress'), erases('export')]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });
});
