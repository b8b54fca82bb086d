import type { ErrorCode } from './error-codes';

/**
 * What a processing step returns (STYLE.md, "Steps return results; one place handles failure").
 *
 * - `ok(value)`: hand `value` to the next step.
 * - `drop(reason)`: the input is deliberately ignored (not an error; counted, not dead-lettered).
 * - `dlq(reason, …)`: the input can never be processed; the one result handler
 *   (result-handler.ts) reports it and writes it to `kumiki.events.dlq` with the code, the step
 *   and the original bytes.
 *
 * A step is a named function returning one of these (pipeline.ts).
 *
 * Steps never log, produce or throw for bad input themselves; thrown errors are bugs or
 * outages and are handled (retried or answered 5xx) by the caller.
 */
export type StepResult<T> = Ok<T> | Drop | DeadLetterVerdict;

export interface Ok<T> {
  readonly kind: 'ok';
  readonly value: T;
}

export interface Drop {
  readonly kind: 'drop';
  readonly reason: string;
}

export interface DeadLetterVerdict {
  readonly kind: 'dlq';
  readonly reason: string;
  readonly code: ErrorCode;
  /** JSON path of the offending value, relative to the event (`properties`, `timestamp`). */
  readonly field?: string;
  readonly error?: unknown;
  /** The input's messageId, once a step has read it (a dead letter carries it). */
  readonly messageId?: string;
}

export function ok<T>(value: T): Ok<T> {
  return { kind: 'ok', value };
}

export function drop(reason: string): Drop {
  return { kind: 'drop', reason };
}

export function dlq(
  reason: string,
  code: ErrorCode,
  details: { field?: string; error?: unknown; messageId?: string } = {},
): DeadLetterVerdict {
  return {
    kind: 'dlq',
    reason,
    code,
    ...(details.field !== undefined ? { field: details.field } : {}),
    ...(details.error !== undefined ? { error: details.error } : {}),
    ...(details.messageId !== undefined ? { messageId: details.messageId } : {}),
  };
}
