import type { PrivacyRequest } from '../../../schemas';
import type { Logger } from '../../common/logger';
import type { PrivacyRequestExecutor } from './privacy-request.executor';
import type { ExecutionContext } from './privacy-run';

/**
 * A record of kumiki.privacy.requests, by phase: `requested` → a pending row; `resolved` (the
 * stitcher's answer) → carried out to the end; `failed` → recorded; `completed` (this service's
 * own notices) → nothing.
 */
export function carryOutPrivacyRecord(
  executor: PrivacyRequestExecutor,
  record: PrivacyRequest,
  context: ExecutionContext,
  logger: Logger,
): Promise<void> {
  switch (record.phase) {
    case 'requested':
      return executor.recordPending(record);
    case 'resolved':
      logger.info({ requestId: record.requestId, kind: record.kind }, 'carrying out a privacy request');
      return executor.run(record, context);
    case 'failed':
      return executor.recordFailed(record);
    case 'completed':
      return Promise.resolve();
  }
}
