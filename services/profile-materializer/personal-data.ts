import type { FastifyRequest } from 'fastify';
import { auditDetails, mayReadPii } from '../common/access';
import type { ClickHouse } from '../common/clickhouse/client-factory';
import { ApiError } from '../common/error-codes';

/** Where one request's personal data is read from: see `personalDataSource`. */
export type PersonalDataSource = (request: FastifyRequest) => ClickHouse;

/**
 * Where a request's identifiers, traits and event payloads are read: the raw database for a key
 * with `pii:read`, else the masked database (common/clickhouse/masking.ts), in which ClickHouse
 * itself replaces every identifier value and personal trait with its pseudonym. Every route that
 * answers with personal data reads it through this, so what a key sees never depends on the
 * route remembering to leave something out; reads of facts that are not personal (profile ids,
 * RFM figures, segment membership) stay on the raw database. It also records in the call's audit
 * details whether raw personal data was answered.
 *
 * Without the masked database set up (a ClickHouse server without CLICKHOUSE_MASKED_PASSWORD),
 * such reads are refused with 503 rather than answered unmasked.
 */
export function personalDataSource(deps: {
  readonly clickhouse: () => ClickHouse;
  readonly maskedClickhouse?: () => ClickHouse | undefined;
}): PersonalDataSource {
  return (request) => {
    const audit = auditDetails(request);
    if (mayReadPii(request)) {
      audit.piiReturned = true;
      return deps.clickhouse();
    }
    const masked = deps.maskedClickhouse?.();
    if (!masked)
      throw new ApiError(
        'KUMIKI_UNAVAILABLE',
        'masked ClickHouse access is not set up (CLICKHOUSE_MASKED_PASSWORD); keys without pii:read cannot read personal data',
        undefined,
        { retryAfterSeconds: 60 },
      );
    audit.piiReturned = false;
    return masked;
  };
}
