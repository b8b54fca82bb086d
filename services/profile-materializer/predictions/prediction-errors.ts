import { KumikiError } from '../../common/errors';

/**
 * Too little data to fit a model: the message names what was found and the minimum (a
 * setting's name when it is configurable). Not retriable as such: the next run, with more data,
 * may succeed.
 */
export class NotEnoughDataError extends KumikiError {
  readonly isRetriable = false;
}
