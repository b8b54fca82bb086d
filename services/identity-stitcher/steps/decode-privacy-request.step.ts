import type { PrivacyRequest } from '../../../schemas';
import { errorMessage, isRetriable } from '../../common/errors';
import type { IncomingMessage } from '../../common/kafka/messages';
import { step, type Step } from '../../common/pipeline';
import { dlq, drop, ok, type StepResult } from '../../common/step-result';

/**
 * `kumiki.privacy.requests`: a PrivacyRequest in the Avro wire format. Only phase `requested`
 * is for the stitcher; the later phases on the same topic are answers (its own, and the
 * profile-materializer's) and are passed over. A record that cannot be decoded is dead-lettered
 * with the reason; a registry outage is thrown (the batch is retried).
 */
export function decodePrivacyRequestStep(
  decode: (bytes: Buffer) => PrivacyRequest | Promise<PrivacyRequest>,
): Step<IncomingMessage, PrivacyRequest> {
  return step<IncomingMessage, PrivacyRequest>('decode-privacy-request', (message) => {
    if (message.value === null || message.value.length === 0) return drop('empty record');
    const undecodable = (error: unknown): StepResult<PrivacyRequest> => {
      if (isRetriable(error)) throw error;
      return dlq(`not a PrivacyRequest in the Avro wire format: ${errorMessage(error)}`, 'KUMIKI_UNDECODABLE', {
        error,
      });
    };
    const answered = (request: PrivacyRequest): StepResult<PrivacyRequest> =>
      request.phase === 'requested' ? ok(request) : drop(`an answer (phase ${request.phase})`);
    try {
      const decoding = decode(message.value);
      return decoding instanceof Promise ? decoding.then(answered, undecodable) : answered(decoding);
    } catch (error) {
      return undecodable(error);
    }
  });
}
