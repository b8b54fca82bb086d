import type { PrivacyRequest } from '../../../schemas';
import type { IncomingMessage } from '../../common/kafka/messages';
import type { Outcome } from '../../common/pipeline';
import { requestKey, requestTypeOf } from '../../common/privacy/privacy-request';
import { recordOrigin, rejection } from '../../common/result-handler';
import { dlq } from '../../common/step-result';
import type { StitchedBatchOutputs } from '../stitched-batch';
import { applyPrivacyRequest, type PrivacyStepDeps } from './apply-privacy-request';

export interface PrivacyBatchTopics {
  readonly privacy: string;
  readonly subjects: string;
  readonly graph: string;
}

export interface PrivacyBatchDeps extends PrivacyStepDeps {
  readonly topics: PrivacyBatchTopics;
  readonly encode: (topic: string, value: unknown) => Buffer;
}

/** The step a request that cannot be carried out is dead-lettered at. */
const APPLY_STEP = 'apply-privacy-request';

/**
 * Carries out a batch of `kumiki.privacy.requests` records in offset order (applyPrivacyRequest)
 * and adds to the batch's outputs what its transaction must hold: graph tombstones, SubjectMemory
 * records, the answer of each request on the requests topic, and dead letters for requests that
 * cannot be carried out (those are answered `failed` as well, so their status says why).
 */
export function carryOutPrivacyRequests(
  messages: readonly IncomingMessage[],
  decoded: readonly Outcome<PrivacyRequest>[],
  outputs: StitchedBatchOutputs,
  deps: PrivacyBatchDeps,
): void {
  const { topics } = deps;
  const answer = (value: PrivacyRequest): void =>
    outputs.message(topics.privacy, requestKey(value), deps.encode(topics.privacy, value));
  decoded.forEach((outcome, i) => {
    const message = messages[i]!;
    if (outcome.kind === 'drop') {
      outputs.dropped(outcome.step);
      return;
    }
    if (outcome.kind === 'dlq') {
      outputs.rejected(rejection(outcome, recordOrigin(message)));
      return;
    }
    const request = outcome.value;
    const result = applyPrivacyRequest(request, deps);
    if (result.kind === 'replayed') {
      outputs.dropped(APPLY_STEP);
      return;
    }
    if (result.kind === 'invalid') {
      outputs.rejected(
        rejection({ ...dlq(result.reason, 'KUMIKI_INVALID_PRIVACY_REQUEST'), step: APPLY_STEP }, recordOrigin(message)),
      );
      answer(result.answer);
      outputs.privacyRequest({ type: requestTypeOf(request.kind), outcome: 'invalid' });
      return;
    }
    // Graph and memory first, then the answer, which is what the profile-materializer acts on.
    for (const key of result.outputs.tombstones) outputs.message(topics.graph, key, null);
    for (const write of result.outputs.memory)
      outputs.message(
        topics.subjects,
        write.key,
        write.value === null ? null : deps.encode(topics.subjects, write.value),
      );
    answer(result.outputs.answer);
    outputs.privacyRequest({
      type: requestTypeOf(request.kind),
      outcome: result.outputs.answer.subject?.outcome ?? 'found',
    });
  });
}
