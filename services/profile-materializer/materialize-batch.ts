/**
 * Consumed records → ClickHouse → profile updates, in two phases.
 *
 * Phase 1, per chunk of `batchSize` records: prepareChunk decodes the records into rows (each
 * record's path of steps, prepare-chunk.ts), storeChunk writes every row (idempotently),
 * flattens merges into profile_aliases and hands what could not be decoded to the one result
 * handler. Phase 2, per group of written chunks: refreshProfiles snapshots the touched profiles
 * and publishes their ProfileUpdates (publish-profile-updates.ts).
 *
 * Why it is safe to repeat: every write is idempotent (see profile.repository.ts), so when
 * anything fails the caller does not commit and the whole batch is read and written again.
 * Profile snapshots are computed from ClickHouse *after* the rows are in, so they include
 * everything written so far, in any order of arrival (late events, merges before or after the
 * events they concern). RFM is the latest RFM snapshot's: orders reach ProfileUpdates with the
 * next one, which republishes the profiles whose figures it changed (rfm/rfm-snapshot.ts). The
 * caller commits offsets only after both phases resolved, i.e. after ClickHouse confirmed every
 * insert and Kafka acknowledged every ProfileUpdate and dead letter.
 */
export { createExclusive, type Exclusive } from '../common/exclusive';
export type { MaterializeDeps } from './materialize-deps';
export { materializerPath, prepareChunk, type PreparedChunk } from './prepare-chunk';
export {
  createProfileRepublisher,
  mergedProfileUpdate,
  ProfileRepublishError,
  publishProfileUpdates,
  refreshProfiles,
  toProfileUpdate,
  type RepublishReason,
} from './publish-profile-updates';
export { storeChunk, type WrittenChunk } from './store-chunk';
