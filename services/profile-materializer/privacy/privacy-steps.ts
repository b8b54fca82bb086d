import { erases, type PrivacyRequestType } from '../../common/privacy/privacy-request';

/**
 * The steps of a privacy request in the profile-materializer, per type, in order (each is
 * checkpointed when done; privacy-request.executor.ts carries them out):
 * erase (and suppress_and_erase):
 *   record-subject       the person: the stitcher's subject, profiles merged into it and every
 *                        identifier ever linked (ClickHouse), written as the request's subject
 *                        rows; their profile ids are from now on dropped from replays and skipped
 *                        by background writes (ErasedProfiles)
 *   wait-for-materializer the materializer's consumer group has committed past the end the
 *                        stitched and identity-change topics had then: everything stitched before
 *                        the stitcher forgot the person is written, so nothing of theirs is still
 *                        on its way into the tables below (after it, the stitcher gives none out)
 *   scan-residual        the person's records on Kafka topics that cannot be edited
 *   count-rows           the person's rows per table, before
 *   exit-segments        hidden (profiles deleted = 1), then an exit with reason `erased` from every segment
 *   delete-rows          one mutation per table holding the person, waited for
 *   settle-writers       background writers started before the deletion finish; what they wrote is deleted too
 *   tombstone-profiles   a tombstone per profile id on kumiki.profiles.updates
 *   verify               every table and view: rows naming the person in any text column (must be 0)
 *   report               the signed report
 *   notify               the completed record on kumiki.privacy.requests: the deletion notice
 *   forget-subject       the request's own subject rows, last
 * export, suppress: record-subject, count-rows, report, notify. unsuppress: record-subject, report, notify.
 */
export function stepsOf(type: PrivacyRequestType): readonly string[] {
  if (erases(type))
    return [
      'record-subject',
      'wait-for-materializer',
      'scan-residual',
      'count-rows',
      'exit-segments',
      'delete-rows',
      'settle-writers',
      'tombstone-profiles',
      'verify',
      'report',
      'notify',
      'forget-subject',
    ];
  if (type === 'unsuppress') return ['record-subject', 'report', 'notify'];
  return ['record-subject', 'count-rows', 'report', 'notify'];
}
