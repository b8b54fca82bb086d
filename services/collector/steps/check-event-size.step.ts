import { MAX_JSON_NESTING } from '../../common/json-nesting';
import { step, type Step } from '../../common/pipeline';
import { dlq, ok } from '../../common/step-result';

/** One element of a request: the message as parsed, and its JSON bytes (what a dead letter keeps). */
export interface RequestElement {
  readonly message: unknown;
  readonly json: Buffer;
  /** The message nests deeper than MAX_JSON_NESTING (its `json` is then cut below that depth). */
  readonly tooDeep?: boolean;
}

/**
 * The per-event bounds (Segment's 32 KB, and MAX_JSON_NESTING levels): an element over either is
 * rejected alone, the rest of its batch goes on.
 */
export function checkEventSizeStep(limitBytes: number): Step<RequestElement, unknown> {
  return step('check-event-size', ({ message, json, tooDeep }) => {
    if (tooDeep) return dlq(`the event nests deeper than ${MAX_JSON_NESTING} levels`, 'KUMIKI_INVALID_EVENT');
    return json.length > limitBytes
      ? dlq(`the event is ${json.length} bytes, over the limit of ${limitBytes / 1024} KB`, 'KUMIKI_PAYLOAD_TOO_LARGE')
      : ok(message);
  });
}
