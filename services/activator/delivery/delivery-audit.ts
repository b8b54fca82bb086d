import { randomUUID } from 'node:crypto';
import type { Destination } from '../../../schemas';
import type { AuditFields } from '../../common/audit/audit-record';
import type { AuditWriter } from '../../common/audit/audit-writer';
import { LingerQueue } from '../../common/linger-queue';
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

/** Undefined when there is nothing to wait for (no personal data, no audit trail), else a promise of the record's write. */
export type DeliveryAudit = (destination: Destination, sent: PersonalDataSent) => Promise<void> | undefined;

/**
 * The audit trail of personal data the activator sends (docs/activation.md, "Access"). No API
 * call carries it: a delivery happens long after its destination was set up. So every webhook
 * attempt and every export of a destination carrying identifiers or personal traits is covered
 * by an AuditRecord attributed to the key that let that data flow (`grantedBy`, a key holding
 * pii:read), written and acknowledged before the data leaves: when the record cannot be
 * written, nothing is sent and the change is retried like any failure. Attempts of one
 * destination, action and receiver within `lingerMs` of each other share one record listing
 * all their profiles (a busy destination would otherwise write, hash and chain a record per
 * message). The key is looked up first: once it is revoked, expired or without pii:read,
 * GrantWithdrawnError is thrown and nothing is sent.
 */
export function createDeliveryAudit(deps: {
  /** Undefined for measurements without an audit trail (AUDIT_ENABLED=false); the grant is checked all the same. */
  readonly writer: Pick<AuditWriter, 'append'> | undefined;
  readonly grants: GrantCheck;
  readonly now?: () => number;
  /** How long an attempt waits for others to share its record (default 2 ms). */
  readonly lingerMs?: number;
}): DeliveryAudit {
  const now = deps.now ?? Date.now;
  const writer = deps.writer;
  const queue =
    writer &&
    new LingerQueue<{ readonly destination: Destination; readonly sent: PersonalDataSent; readonly at: number }>({
      lingerMs: deps.lingerMs ?? 2,
      maxBatch: 500,
      send: async (items) => {
        const shared = new Map<string, { first: (typeof items)[number]; profileIds: string[]; rows: number }>();
        for (const item of items) {
          const key = [item.destination.id, item.destination.grantedBy?.keyId, item.sent.action, item.sent.target].join(
            '\n',
          );
          let group = shared.get(key);
          if (!group) shared.set(key, (group = { first: item, profileIds: [], rows: 0 }));
          group.profileIds.push(...item.sent.profileIds);
          group.rows += item.sent.rows;
        }
        await Promise.all(
          [...shared.values()].map(({ first, profileIds, rows }) => writer.append(recordOf(first, profileIds, rows))),
        );
      },
    });
  return (destination, sent) => {
    if (!carriesPersonalData(destination)) return undefined;
    const problem = deps.grants(destination);
    if (problem)
      return Promise.reject(
        new GrantWithdrawnError(problem, { destination: destination.id, keyId: destination.grantedBy?.keyId }),
      );
    return queue?.push({ destination, sent, at: now() });
  };
}

function recordOf(
  {
    destination,
    sent,
    at,
  }: { readonly destination: Destination; readonly sent: PersonalDataSent; readonly at: number },
  profileIds: string[],
  rows: number,
): AuditFields {
  const grant = destination.grantedBy;
  return {
    recordId: randomUUID(),
    at,
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
    profileIds,
    identifierHashes: [],
    sqlText: '',
    sqlHash: '',
    tables: [],
    rows,
    piiReturned: true,
  };
}
