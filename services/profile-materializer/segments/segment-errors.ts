import { ApiError, type ErrorCode } from '../../common/error-codes';
import { KumikiError, type ErrorContext } from '../../common/errors';

/** One thing wrong with a definition: `path` is the JSON path in the request body (`rule.and[0].op`). */
export interface SegmentProblem {
  readonly path: string;
  readonly message: string;
}

/**
 * Errors of segment definitions. None is retriable: the same definition is refused again.
 * `code` is the stable API code (error-codes.ts); `toApiError()` gives the HTTP answer.
 */
export abstract class SegmentError extends KumikiError {
  readonly isRetriable = false;
  abstract readonly code: ErrorCode;

  toApiError(): ApiError {
    return new ApiError(this.code, this.message, this.field, { cause: this });
  }

  get field(): string | undefined {
    return undefined;
  }
}

/**
 * The definition can never be saved as it is: unknown rule fields or operators, SQL that is not
 * one read-only SELECT or has no `profile_id` column, a query over the limits. Lists every
 * problem found (rule validation reports them all at once); `field` is the first one's path.
 */
export class InvalidSegmentError extends SegmentError {
  readonly code = 'KUMIKI_INVALID_SEGMENT' as const;

  constructor(
    readonly problems: readonly SegmentProblem[],
    context: ErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(problems.map((p) => `${p.path}: ${p.message}`).join('; '), { ...context, field: problems[0]?.path }, options);
  }

  static at(path: string, message: string, options?: { cause?: unknown }): InvalidSegmentError {
    return new InvalidSegmentError([{ path, message }], {}, options);
  }

  override get field(): string | undefined {
    return this.problems[0]?.path;
  }
}

/** No live segment has this id. */
export class SegmentNotFoundError extends SegmentError {
  readonly code = 'KUMIKI_SEGMENT_NOT_FOUND' as const;

  constructor(readonly segmentId: string) {
    super(`no segment has id ${JSON.stringify(segmentId)}`, { segmentId });
  }
}

/** The segment is referred to by other segments' rules (inSegment) and cannot be deleted. */
export class SegmentInUseError extends SegmentError {
  readonly code = 'KUMIKI_SEGMENT_IN_USE' as const;

  constructor(
    readonly segmentId: string,
    readonly usedBy: readonly string[],
  ) {
    super(
      `segment ${JSON.stringify(segmentId)} is used by ${usedBy.map((id) => JSON.stringify(id)).join(', ')}; delete those first`,
      { segmentId },
    );
  }
}
