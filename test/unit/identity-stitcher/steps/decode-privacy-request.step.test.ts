import type { PrivacyRequest } from '../../../../schemas';
import { DependencyUnavailableError } from '../../../../services/common/errors';
import type { IncomingMessage } from '../../../../services/common/kafka/messages';
import { decodePrivacyRequestStep } from '../../../../services/identity-stitcher/steps/decode-privacy-request.step';

const message = (value: string | null): IncomingMessage => ({
  topic: 'privacy',
  partition: 0,
  offset: '3',
  key: null,
  value: value === null ? null : Buffer.from(value),
  headers: {},
  timestamp: '0',
});
const decodeJson = (bytes: Buffer) => {
  const value = JSON.parse(bytes.toString()) as PrivacyRequest;
  return value;
};

describe('decode-privacy-request', () => {
  it('passes requests on, passes answers over and dead-letters what is not a request', async () => {
    const step = decodePrivacyRequestStep(decodeJson);
    expect(step.name).toBe('decode-privacy-request');
    expect(step.run(message('{"phase":"requested","requestId":"pr_1"}'))).toEqual({
      kind: 'ok',
      value: { phase: 'requested', requestId: 'pr_1' },
    });
    expect(step.run(message('{"phase":"resolved"}'))).toEqual({ kind: 'drop', reason: 'an answer (phase resolved)' });
    expect(step.run(message(null))).toEqual({ kind: 'drop', reason: 'empty record' });
    expect(step.run(message('not json'))).toMatchObject({
      kind: 'dlq',
      code: 'KUMIKI_UNDECODABLE',
      reason: expect.stringMatching(/^not a PrivacyRequest in the Avro wire format: /),
    });
    const later = decodePrivacyRequestStep(async (bytes) => decodeJson(bytes));
    await expect(later.run(message('{"phase":"requested"}'))).resolves.toMatchObject({ kind: 'ok' });
  });

  it('throws a registry outage, so the batch is fetched again', async () => {
    const outage = new DependencyUnavailableError('registry down', { dependency: 'registry' });
    const step = decodePrivacyRequestStep(() => Promise.reject(outage));
    await expect(step.run(message('{}'))).rejects.toBe(outage);
  });
});
