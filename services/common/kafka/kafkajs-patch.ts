import { readFileSync } from 'node:fs';
import type { Admin, AdminConfig, Kafka } from 'kafkajs';
import { KumikiError } from '../errors';

/**
 * kafkajs runs patched (patches/kafkajs+2.2.4.patch, applied by `npm ci` through patch-package).
 * Without the patch its produce request ignores the records the stitcher writes ahead
 * (RecordSets) and sends empty batches without an error, so an install made with
 * `--ignore-scripts` must stop at start-up instead. The patch also makes a consumer stopped
 * while it is joining its group leave it, where kafkajs would finish the join and go on
 * fetching and heartbeating as a member nobody can stop; lets the stitcher ask the transaction
 * coordinator whether its transactional id is still its own; and sets a group's offsets with one
 * OffsetCommit as a group without members (as Kafka's AdminClient does) rather than by joining
 * the group with a throwaway consumer, which took seconds per destination created or replayed.
 * Its admin client keeps metadata for `metadataMaxAge` like the other clients (kafkajs fetched all
 * of it again before every call) and reads a topic's end offsets in one request. And a
 * connection's request queue arms its pending-requests check only when a request waits or the
 * broker throttles: kafkajs armed it every millisecond on every connection, for ever (#1556).
 */
export class KafkajsNotPatchedError extends KumikiError {
  readonly isRetriable = false;
}

/** The admin client with what the patch adds. */
export type PatchedAdmin = Admin & {
  fetchTopicsEndOffsets(
    topics: string[],
  ): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
};

/** An admin client that keeps its metadata for `metadataMaxAgeMs` (partition lists and leaders). */
export function patchedAdmin(kafka: Kafka, metadataMaxAgeMs: number): PatchedAdmin {
  return kafka.admin({ metadataMaxAge: metadataMaxAgeMs } as AdminConfig) as PatchedAdmin;
}

/** What the patched produce request reads records written ahead from (record-sets.ts, WRITTEN_RECORDS). */
const PATCH_MARK = "Symbol.for('kumiki.kafka.records')";
const PATCHED_FILE = 'kafkajs/src/protocol/requests/produce/v3/request.js';

let checked = false;

/** Throws KafkajsNotPatchedError unless the installed kafkajs carries the patch; reads it once. */
export function assertKafkajsPatched(): void {
  if (checked) return;
  const problem = patchProblem(readFileSync(require.resolve(PATCHED_FILE), 'utf8'));
  if (problem) throw problem;
  checked = true;
}

/** The error to stop with when `source`, kafkajs' produce request as installed, is not the patched one. */
export function patchProblem(source: string): KafkajsNotPatchedError | undefined {
  if (source.includes(PATCH_MARK)) return undefined;
  return new KafkajsNotPatchedError(
    'kafkajs is installed without its patch (patches/kafkajs+2.2.4.patch), so some records would be ' +
      'sent empty: run `npx patch-package` in the kumiki folder (npm ci and npm install apply it ' +
      'unless run with --ignore-scripts)',
    { file: PATCHED_FILE },
  );
}
