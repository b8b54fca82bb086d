import { errorMessage, isRetriable } from '../../../common/errors';
import type { Logger } from '../../../common/logger';
import type { EvaluatedSegment } from './membership.repository';

/**
 * The diff of one segment, or `skipped` when its query is refused (a SQL segment whose tables
 * changed, say): one broken segment must not hold up the others. Outages are rethrown.
 */
export async function orSkip<T>(
  logger: Logger,
  segment: EvaluatedSegment,
  query: () => Promise<T>,
  skipped: T,
): Promise<T> {
  try {
    return await query();
  } catch (error) {
    if (isRetriable(error)) throw error;
    logger.error({ segmentId: segment.id, error: errorMessage(error) }, 'segment query failed; segment skipped');
    return skipped;
  }
}
