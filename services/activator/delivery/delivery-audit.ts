import { randomUUID } from 'node:crypto';
import type { Destination } from '../../../schemas';
import type { AuditWriter } from '../../common/audit/audit-writer';
import { carriesPersonalData } from '../destinations/destination';
import { type GrantCheck, GrantWithdrawnError } from '../destinations/grant-check';

/** Personal data about to leave for a destination: one webhook attempt, or one export's file. */
export interface PersonalDataSent {
  /** `DELIVER segment.entered`, `DELIVER profile.updated`, `EXPORT segment:<id>`. */
  readonly action: string;
  /** Where it goes: the URL's host, or the export directory. */
  readonly target: string;
  /** The profiles it is about (an export says how many rows instead: its members are too many for one record). */
  readonly profileIds: readonly string[];
  readonly rows: number;
}

export type DeliveryAudit = (destination: Destination, sent: PersonalDataSent) => Promise<void>;

/**
 * The audit trail of personal data the activator sends (docs/activation.md, "Access"). No API
 * call carries it: a delivery happens long after its destination was set up. So each webhook
 * attempt and each export of a destination carrying identifiers or personal traits is one
 * AuditRecord attributed to the key that let that data flow (`grantedBy`, a key holding
 * pii:read), written and acknowledged before the data leaves: when the record cannot be
 * written, nothing is sent and the change is retried like any failure. That key is looked up
 * first: once it is revoked, expired or without pii:read, GrantWithdrawnError is thrown and
 * nothing is sent.
 */
export function createDeliveryAudit(deps: {
  /** Undefined for measurements without an audit trail (AUDIT_ENABLED=false); the grant is checked all the same. */
  readonly writer: Pick<AuditWriter, 'append'> | undefined;
  readonly grants: GrantCheck;
  readonly now?: () => number;
}): DeliveryAudit {
  const now = deps.now ?? Date.now;
  return async (destination, sent) => {
    if (!carriesPersonalData(destination)) return;
    const grant = destination.grantedBy;
    const problem = deps.grants(destination);
    if (problem) throw new GrantWithdrawnError(problem, { destination: destination.id, keyId: grant?.keyId });
    await deps.writer?.append({
      recordId: randomUUID(),
      at: now(),
      service: 'activator',
      keyId: grant?.keyId ?? '',
      keyName: grant?.keyName ?? '',
      role: grant?.role ?? '',
      source: sent.target,
      action: sent.action,
      scope: 'pii:read',
      resource: `destination:${destination.id}`,
      outcome: 'allowed',
      status: 0,
      code: '',
      profileIds: [...sent.profileIds],
      identifierHashes: [],
      sqlText: '',
      sqlHash: '',
      tables: [],
      rows: sent.rows,
      piiReturned: true,
    });
  };
}
