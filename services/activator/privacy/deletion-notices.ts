import type { Destination, PrivacyRequest } from '../../../schemas';
import type { Logger } from '../../common/logger';
import { erases, requestTypeOf } from '../../common/privacy/privacy-request';
import type { PrivacyRecordContext } from '../../common/privacy/privacy-requests.consumer';
import type { DeliveryAudit } from '../delivery/delivery-audit';
import type { DeliveryLog } from '../delivery/delivery-log';
import type { LiveDestination } from '../delivery/destination-runtime';
import { sleepUnlessStopped, StoppedError } from '../delivery/flow-control';
import { deletionNoticePayload, identifiersOf } from '../delivery/payloads';
import { judgeAttempt, type RetryPolicy } from '../delivery/retry-policy';
import { signedHeaders, webhookId } from '../../common/webhook-signature';
import type { DestinationCatalog } from '../destinations/destination-catalog';
import { hashedIdentifiers } from '../exports/customer-match';
import { deletionsText, writeDeletionsFile } from '../exports/deletions-file';
import type { ExportRecipients } from './export-recipients';
import type { RecipientLedger } from './recipient-ledger';
import type { WithheldPeople } from './withheld-people';

export interface DeletionNoticeDeps {
  readonly withheld: Pick<WithheldPeople, 'withholdErased'>;
  readonly recipients: Pick<RecipientLedger, 'destinationsOf' | 'forget'>;
  /** The recipient ledger of exports (export-recipients.ts). */
  readonly exportRecipients: Pick<ExportRecipients, 'destinationsOf' | 'forget'>;
  readonly catalog: Pick<DestinationCatalog, 'get'>;
  /** A short-lived runtime of the destination (signing keys, connections, rate limiter). */
  readonly withRuntime: <T>(destination: Destination, work: (runtime: LiveDestination) => Promise<T>) => Promise<T>;
  readonly audit: DeliveryAudit;
  readonly log: Pick<DeliveryLog, 'record'>;
  readonly policy: RetryPolicy;
  readonly timeoutMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

/**
 * The activator's part of an erasure, on its deletion notice (a `completed` erase on
 * kumiki.privacy.requests, docs/privacy.md): every profile id of the person — merged-away ones
 * too — is withheld from then on, and every destination the recipient ledger says was sent one of
 * them gets one `profile.deleted` message per profile id: signed like any delivery, retried by the
 * destination's retry policy, audited when it carries identifiers, and in the delivery log. Then
 * the pair leaves the ledger.
 *
 * Export destinations on record for the person (the exports' ledger) get the notice in their
 * own medium, with the identifiers as their files carried them (normalised, SHA-256: customer
 * match), never raw: an export to a directory gets a deletions file there
 * (`<destination id>-deletions-<request id>.<format>`, each profile id a `remove` row), an export
 * handed to a URL one signed `profile.deleted` per profile id. Then those pairs leave that ledger.
 *
 * The record's offset is committed only after every notice of it went out, so a notice cut short
 * by a crash is sent again — with the same webhook-id (derived from the notice's place on the
 * topic), so a receiver that deduplicates by it acts once. A destination that refuses a notice
 * for good, or fails every attempt, stays in the ledger and the failure is logged (error) and in
 * the delivery log as `dead_lettered`.
 */
export function createDeletionNotices(
  deps: DeletionNoticeDeps,
): (record: PrivacyRequest, context: PrivacyRecordContext) => Promise<void> {
  const now = deps.now ?? Date.now;

  const send = async (
    runtime: LiveDestination,
    notice: { id: string; profileId: string; body: string },
    context: PrivacyRecordContext,
  ): Promise<boolean> => {
    for (let attempt = 1; ; attempt++) {
      if (context.signal.aborted) throw new StoppedError();
      const destination = runtime.destination();
      const url = new URL(destination.url!);
      await deps.audit(destination, {
        action: 'DELIVER profile.deleted',
        target: url.host,
        profileIds: [notice.profileId],
        rows: 1,
      });
      await runtime.limiter.acquire(context.signal);
      const sentAt = now();
      const response = await runtime.sender.send({
        url,
        headers: signedHeaders(runtime.keys(sentAt), notice.id, sentAt, notice.body),
        body: notice.body,
        timeoutMs: deps.timeoutMs,
      });
      const verdict = judgeAttempt(response, attempt, deps.policy, now());
      const outcome =
        verdict.kind === 'delivered' ? 'delivered' : verdict.kind === 'retry' ? 'failed' : 'dead_lettered';
      deps.log.record({
        destinationId: destination.id,
        webhookId: notice.id,
        eventType: 'profile.deleted',
        profileId: notice.profileId,
        attempt,
        status: response.status,
        outcome,
        latencyMs: Math.round(response.latencyMs),
        error: verdict.kind === 'delivered' ? null : verdict.reason,
        at: now(),
        sourceTopic: context.message.topic,
        sourcePartition: context.message.partition,
        sourceOffset: Number(context.message.offset),
      });
      if (verdict.kind === 'delivered') return true;
      if (verdict.kind !== 'retry') {
        deps.logger.error(
          { destination: destination.id, webhookId: notice.id, reason: verdict.reason },
          'deletion notice not delivered; the destination stays on record as holding the person',
        );
        return false;
      }
      await context.heartbeat();
      await sleepUnlessStopped(verdict.delayMs, context.signal);
    }
  };

  /** The webhook ledger's destinations: one `profile.deleted` per profile id, identifiers as delivered. */
  const noticeWebhooks = async (record: PrivacyRequest, profileId: string, context: PrivacyRecordContext) => {
    const subject = record.subject!;
    const at = record.completedAt ?? now();
    for (const destinationId of await deps.recipients.destinationsOf(profileId)) {
      const destination = deps.catalog.get(destinationId);
      let sent = true;
      if (destination?.url) {
        const payload = deletionNoticePayload(
          profileId,
          identifiersOf({ identifiers: subject.identifiers }, destination.identifiers),
          at,
        );
        sent = await deps.withRuntime(destination, (runtime) =>
          send(
            runtime,
            { id: noticeId(destination.id, profileId, context), profileId, body: JSON.stringify(payload) },
            context,
          ),
        );
        if (sent)
          deps.logger.info({ destination: destination.id, requestId: record.requestId }, 'deletion notice sent');
      }
      // A destination deleted since, or a directory export (nobody to tell), leaves the ledger too.
      if (sent) await deps.recipients.forget(destinationId, profileId);
    }
  };

  /** The exports' ledger: a deletions file in the export's directory, or `profile.deleted` to its URL, hashed. */
  const noticeExports = async (
    record: PrivacyRequest,
    profileIds: readonly string[],
    context: PrivacyRecordContext,
  ) => {
    const subject = record.subject!;
    const at = record.completedAt ?? now();
    const byDestination = new Map<string, string[]>();
    for (const [profileId, destinationIds] of await deps.exportRecipients.destinationsOf(profileIds))
      for (const id of destinationIds) byDestination.set(id, [...(byDestination.get(id) ?? []), profileId]);
    const typed = subject.identifiers.map((i) => `${i.type}:${i.value}`);
    for (const [destinationId, held] of byDestination) {
      const destination = deps.catalog.get(destinationId);
      let sent = true;
      if (destination?.export) {
        const hashed = hashedIdentifiers(typed, destination.identifiers);
        const format = destination.export.format === 'ndjson' ? 'ndjson' : 'csv';
        if (destination.export.directory !== null) {
          await deps.audit(destination, {
            action: 'EXPORT profile.deleted',
            target: destination.export.directory,
            profileIds: held,
            rows: held.length,
          });
          const file = await writeDeletionsFile(
            destination.export.directory,
            destination.id,
            record.requestId,
            format,
            deletionsText(
              format,
              destination.identifiers,
              held.map((profileId) => ({ profileId, hashed })),
            ),
          );
          deps.logger.info(
            { destination: destination.id, requestId: record.requestId, file },
            'deletions file written',
          );
        } else if (destination.url) {
          for (const profileId of held) {
            const body = JSON.stringify(deletionNoticePayload(profileId, hashed, at));
            const id = noticeId(destination.id, profileId, context);
            sent =
              (await deps.withRuntime(destination, (runtime) => send(runtime, { id, profileId, body }, context))) &&
              sent;
          }
          if (sent)
            deps.logger.info({ destination: destination.id, requestId: record.requestId }, 'deletion notice sent');
        }
      }
      if (sent) for (const profileId of held) await deps.exportRecipients.forget(destinationId, profileId);
    }
  };

  return async (record, context) => {
    const { subject } = record;
    if (record.phase !== 'completed' || !erases(requestTypeOf(record.kind)) || !subject) return;
    const profileIds = [...new Set([...subject.profileIds, ...subject.mergedProfileIds])];
    if (profileIds.length === 0) return;
    deps.withheld.withholdErased(record.requestId, profileIds);
    for (const profileId of profileIds) await noticeWebhooks(record, profileId, context);
    await noticeExports(record, profileIds, context);
  };
}

/** Derived from the notice's place on the topic: the same on every redelivery of it. */
function noticeId(destinationId: string, profileId: string, context: PrivacyRecordContext): string {
  return webhookId(
    destinationId,
    context.message.topic,
    context.message.partition,
    `${context.message.offset}/${profileId}`,
  );
}
