import type { PrivacyKey } from './privacy-key';
import type { PrivacyRequestType } from './privacy-request';

/**
 * The report of a completed privacy request (docs/privacy.md, "The report"): what kumiki held of
 * the person, what it deleted where, the count a verification query found after it, what is
 * left on Kafka topics that cannot be edited and when their retention removes it, the deadline
 * and when it was met. It names the person only by keyed hashes, so it can be kept (and shown)
 * after the person is erased. Signed with HMAC-SHA256 over its canonical JSON (everything but
 * `signature`); `kumiki privacy verify` checks it with the server's privacy key.
 */
export interface PrivacyReport {
  readonly format: 'kumiki.privacy-report/1';
  readonly requestId: string;
  readonly type: PrivacyRequestType;
  readonly identifier: { readonly type: string; readonly hash: string };
  readonly requestedAt: string;
  readonly requestedBy: string;
  readonly deadlineAt: string;
  readonly completedAt: string;
  readonly deadlineMet: boolean;
  readonly subject: HashedSubject & { readonly summary: string };
  /** Per ClickHouse table and view. */
  readonly clickhouse: readonly ClickHouseStoreReport[];
  /** What was written to Kafka: tombstones, segment exits, the deletion notice, a suppression. */
  readonly kafka: readonly KafkaActionReport[];
  /** Records of the person on topics that cannot be edited, and when Kafka removes them. */
  readonly residual: readonly ResidualReport[];
  /** Destinations that were sent the person and get the deletion notice (erase only; from the activator's ledgers). */
  readonly destinations?: readonly DestinationNoticeReport[];
  /** Every `after` is 0 (erase), or nothing was to be deleted. */
  readonly verified: boolean;
  readonly notes: readonly string[];
  /** First 16 hex characters of SHA-256 of the privacy key that signed (and hashed). */
  readonly keyId: string;
  readonly signature: string;
}

/** The person, named by keyed hashes and counts only (the report and the state row outlive an erase). */
export interface HashedSubject {
  readonly outcome: string;
  readonly erasedBy: string | null;
  readonly profileIdHashes: readonly string[];
  readonly mergedProfileIdHashes: readonly string[];
  readonly identifiers: readonly { readonly type: string; readonly hash: string }[];
}

export interface ClickHouseStoreReport {
  readonly store: string;
  readonly kind: 'table' | 'view';
  /** Columns the person was found by (table convention); empty for views and tables without a person. */
  readonly matchedBy: readonly string[];
  /** The person's rows before (erase) or now (export, suppress). */
  readonly rows: number;
  /** Rows deleted (erase only). */
  readonly deleted: number;
  /** Verification after the erase: rows still naming the person in any text column (must be 0). */
  readonly after: number | null;
}

export interface KafkaActionReport {
  readonly topic: string;
  readonly action: 'tombstones' | 'segment exits' | 'deletion notice' | 'suppression' | 'graph tombstones';
  readonly records: number;
  readonly detail: string;
}

export interface DestinationNoticeReport {
  readonly destinationId: string;
  /** How it was sent the person: webhook deliveries, or audience exports. */
  readonly via: 'webhook' | 'export';
  /** How many of the person's profile ids it holds. */
  readonly profiles: number;
  /** What the activator sends it on the deletion notice. */
  readonly notice: string;
}

export interface ResidualReport {
  readonly topic: string;
  readonly cleanup: 'delete' | 'compact';
  /** The person's records still in the topic when it was read. */
  readonly records: number;
  readonly oldest: string | null;
  readonly newest: string | null;
  /** The latest date Kafka removes them by (retention, or compaction), if it has a bound. */
  readonly removedBy: string | null;
  readonly how: string;
}

export type UnsignedReport = Omit<PrivacyReport, 'signature'>;

export function signReport(report: UnsignedReport, key: PrivacyKey): PrivacyReport {
  return { ...report, signature: key.sign(report) };
}

/** Whether `report` is as its signer wrote it, checked with `key`. */
export function verifyReport(report: PrivacyReport, key: PrivacyKey): { valid: boolean; reason: string } {
  if (report.format !== 'kumiki.privacy-report/1') return { valid: false, reason: `unknown format ${report.format}` };
  if (report.keyId !== key.keyId)
    return { valid: false, reason: `signed with key ${report.keyId}, this key is ${key.keyId}` };
  const { signature, ...unsigned } = report;
  return key.verify(unsigned, signature)
    ? { valid: true, reason: 'signature matches' }
    : { valid: false, reason: 'signature does not match: the report was changed after it was signed' };
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
