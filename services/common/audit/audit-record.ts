import { createHash, randomUUID } from 'node:crypto';
import type { AccessDecision } from '../access';
import type { AuditRecord } from '../../../schemas';
import { identifierHash, keyedHash, profileIdHash, pseudonymiseSqlLiterals } from './keyed-hash';

/** An AuditRecord before its writer gives it a place in its chain. */
export type AuditFields = Omit<AuditRecord, 'writerId' | 'sequence' | 'previousHash' | 'hash'>;

/** One call's record, from what access control decided and what the handler added. */
export function auditFieldsOf(decision: AccessDecision, options: { service: string; piiKey: Buffer }): AuditFields {
  const key = decision.principal
    ? { id: decision.principal.keyId, name: decision.principal.keyName, role: decision.principal.role }
    : decision.claimed
      ? { id: decision.claimed.id, name: decision.claimed.name, role: decision.claimed.role }
      : { id: '', name: '', role: '' };
  const details = decision.details;
  return {
    recordId: randomUUID(),
    at: decision.at,
    service: options.service,
    keyId: key.id,
    keyName: key.name,
    role: key.role,
    source: decision.source,
    action: `${decision.method} ${decision.route}`,
    scope: decision.scope ?? '',
    resource: details.resource ?? '',
    outcome: decision.outcome,
    status: decision.status,
    code: decision.code ?? '',
    // Keyed hashes, like identifiers: an erased person's profile ids must not outlive them here.
    profileIds: [...new Set(details.profileIds)].map((id) => profileIdHash(options.piiKey, id)),
    identifierHashes: details.identifiers.map((i) => identifierHash(options.piiKey, i.type, i.value)),
    sqlText: details.sql === undefined ? '' : pseudonymiseSqlLiterals(options.piiKey, details.sql),
    sqlHash: details.sql === undefined ? '' : keyedHash(options.piiKey, details.sql),
    tables: details.tables ?? [],
    rows: details.rows ?? -1,
    piiReturned: details.piiReturned ?? false,
  };
}

/**
 * The chain: hash = SHA-256(previousHash, then every other field in schema order as canonical
 * JSON). The form is fixed here and recomputed by `kumiki audit verify` from the stored rows,
 * so any field changed in storage, or a record removed (a gap in `sequence`), breaks the chain
 * at that record.
 */
export function chainHash(record: Omit<AuditRecord, 'hash'>): string {
  const canonical = JSON.stringify([
    record.recordId,
    record.writerId,
    record.sequence,
    record.at,
    record.service,
    record.keyId,
    record.keyName,
    record.role,
    record.source,
    record.action,
    record.scope,
    record.resource,
    record.outcome,
    record.status,
    record.code,
    record.profileIds,
    record.identifierHashes,
    record.sqlText,
    record.sqlHash,
    record.tables,
    record.rows,
    record.piiReturned,
  ]);
  return createHash('sha256').update(record.previousHash).update('\n').update(canonical).digest('hex');
}

/** The first record of `records` (one writer's, in sequence order) that breaks the chain. */
export function firstBrokenLink(
  records: readonly AuditRecord[],
): { record: AuditRecord; reason: 'hash' | 'previous' | 'gap' } | undefined {
  let previous: AuditRecord | undefined;
  for (const record of records) {
    if (previous && record.sequence !== previous.sequence + 1) return { record, reason: 'gap' };
    if (!previous && record.sequence !== 1) return { record, reason: 'gap' };
    if (record.previousHash !== (previous?.hash ?? '')) return { record, reason: 'previous' };
    const { hash, ...rest } = record;
    if (chainHash(rest) !== hash) return { record, reason: 'hash' };
    previous = record;
  }
  return undefined;
}
