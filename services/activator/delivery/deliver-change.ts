import { performance } from 'node:perf_hooks';
import type { DeliveryAttempt, Destination, ProfileUpdate, SegmentChange } from '../../../schemas';
import { schema } from '../../../schemas';
import type { ErrorCode } from '../../common/error-codes';
import { errorMessage, isRetriable } from '../../common/errors';
import type { EventProducer, IncomingMessage } from '../../common/kafka/client';
import type { Logger } from '../../common/logger';
import type { Registry } from '../../common/metrics';
import { createResultHandler, recordOrigin } from '../../common/result-handler';
import type { AvroCodec } from '../../common/registry/avro-codec';
import type { DestinationMetrics } from '../activator.metrics';
import type { ProfileTable } from '../profiles/profile-table';
import { consentVerdict, type SubjectFilter } from './consent';
import type { GrantCheck } from '../destinations/grant-check';
import type { RecipientRecorder } from '../privacy/recipient-ledger';
import type { DeliveryAudit } from './delivery-audit';
import { destinationDeadLetters, type RefusedDelivery } from './destination-dead-letters';
import type { DeliveryJob } from './delivery-scheduler';
import type { DeliveryLog } from './delivery-log';
import { type RateLimiter, type Semaphore, sleepUnlessStopped, StoppedError } from './flow-control';
import { profileUpdatedPayload, segmentChangePayload, type WebhookPayload } from './payloads';
import { judgeAttempt, type RetryPolicy } from './retry-policy';
import { signedHeaders, webhookId } from '../../common/webhook-signature';
import type { WebhookResponse, WebhookSender } from './webhook-sender';

/**
 * Delivering one change to one destination, start to finish (STYLE.md: one place decides what
 * a change's outcome is):
 *
 *   decode → subscribed? → profile table caught up → consent → payload → attempts
 *
 * Each attempt re-checks consent, is audited when it carries personal data, passes the rate
 * limiter and the in-flight bound, is signed with the time of the attempt and logged. The outcome is one of: delivered; skipped (not an
 * event or segment the destination takes); withheld (no consent, unknown or withheld person;
 * logged with outcome `withheld` and the reason);
 * dead-lettered (refused for good, every attempt failed, or undecodable), written to the
 * destinations' DLQ before the change counts as finished. Nothing else finishes a change: a
 * stop or rebalance abandons it unfinished, to be delivered again from the committed offset.
 */
export interface DestinationRuntime {
  /** The destination as currently configured (updates apply to the next attempt). */
  destination(): Destination;
  /** The destination's URL, parsed once per version of the destination. */
  url(): URL;
  readonly metrics: DestinationMetrics;
  /** Signing keys, newest first, without expired ones. */
  keys(now: number): readonly Buffer[];
  readonly sender: WebhookSender;
  readonly limiter: RateLimiter;
  readonly inFlight: Semaphore;
  readonly health: DestinationHealth;
  /** Asks for the destination to be paused, with the reason it shows (once per runtime). */
  pause(reason: string): void;
}

export interface ChangeDeliveryDeps {
  readonly codec: () => AvroCodec;
  readonly profiles: Pick<ProfileTable, 'get' | 'caughtUpSince' | 'holds'>;
  readonly producer: () => Pick<EventProducer, 'send'>;
  readonly log: Pick<DeliveryLog, 'record'>;
  readonly logger: Logger;
  readonly subjects: SubjectFilter;
  /** Who was sent whom, for deletion notices (privacy/recipient-ledger.ts). */
  readonly recipients: RecipientRecorder;
  /** Records each attempt that carries personal data before it leaves (delivery-audit.ts). */
  readonly audit: DeliveryAudit;
  /** Whether the key that let personal data flow to a destination still may (grant-check.ts). */
  readonly grants: GrantCheck;
  readonly policy: RetryPolicy;
  readonly timeoutMs: number;
  readonly topics: { readonly changes: string; readonly dlq: string };
  /** Where the one result handler counts dead letters by step (kumiki_inputs_stopped_total). */
  readonly registry?: Registry;
  readonly now?: () => number;
}

export type ChangeOutcome = 'delivered' | 'skipped' | 'withheld' | 'dead_lettered';

/** Tracks whether a destination has been failing, for the automatic pause. */
export class DestinationHealth {
  private failingSince: number | undefined;
  private pauseRequested = false;

  constructor(
    private readonly autoPauseAfterMs: number,
    private readonly onFailingTooLong: (reason: string) => void,
  ) {}

  succeeded(): void {
    this.failingSince = undefined;
    this.pauseRequested = false;
  }

  failed(now: number, reason: string): void {
    this.failingSince ??= now;
    if (!this.pauseRequested && now - this.failingSince >= this.autoPauseAfterMs) {
      this.pauseRequested = true;
      this.onFailingTooLong(
        `failing since ${new Date(this.failingSince).toISOString()} with no delivery in between; last error: ${reason}`,
      );
    }
  }
}

interface Decoded {
  readonly eventType: string;
  readonly profileId: string;
  readonly segmentId: string | null;
  readonly changedAt: number;
  readonly render: (profile: ProfileUpdate, scope: Destination) => WebhookPayload;
}

export function createChangeDelivery(
  deps: ChangeDeliveryDeps,
): (job: DeliveryJob, runtime: DestinationRuntime) => Promise<ChangeOutcome> {
  const now = deps.now ?? Date.now;
  const readers = { change: schema('SegmentChange').type, update: schema('ProfileUpdate').type };

  const changeOf = ({ value }: { value: SegmentChange }): Decoded => ({
    eventType: value.change === 'entered' ? 'segment.entered' : 'segment.exited',
    profileId: value.profileId,
    segmentId: value.segmentId,
    changedAt: value.at,
    render: (profile, scope) => segmentChangePayload(value, profile, scope),
  });
  const updateOf = ({ value }: { value: ProfileUpdate }): Decoded => ({
    eventType: 'profile.updated',
    profileId: value.profileId,
    segmentId: null,
    changedAt: value.updatedAt,
    render: (_latest, scope) => profileUpdatedPayload(value, scope),
  });
  /** At once when the writer schema is known (every change but the first of a schema), else a promise. */
  const decode = (message: IncomingMessage): Decoded | undefined | Promise<Decoded> => {
    if (message.value === null) return undefined; // a tombstone: the person is gone, nothing to announce
    if (message.topic === deps.topics.changes) {
      const decoded = deps.codec().decodeNowOrLater<SegmentChange>(message.value, readers.change);
      return decoded instanceof Promise ? decoded.then(changeOf) : changeOf(decoded);
    }
    const decoded = deps.codec().decodeNowOrLater<ProfileUpdate>(message.value, readers.update);
    return decoded instanceof Promise ? decoded.then(updateOf) : updateOf(decoded);
  };

  const results = createResultHandler<RefusedDelivery>({
    logger: deps.logger,
    sink: destinationDeadLetters({ producer: deps.producer, codec: deps.codec, topic: deps.topics.dlq, now }),
    ...(deps.registry ? { registry: deps.registry } : {}),
    logFields: ({ delivery }) => ({ destination: delivery.destinationId, webhookId: delivery.webhookId }),
  });
  /** Rethrows when the dead letter cannot be written: the change stays unfinished and is delivered again. */
  const deadLetter = async (
    runtime: DestinationRuntime,
    message: IncomingMessage,
    step: string,
    verdict: { code: ErrorCode; reason: string },
    delivery: Omit<RefusedDelivery['delivery'], 'destinationId'>,
  ): Promise<void> => {
    await results.rejected([
      {
        step,
        ...verdict,
        origin: recordOrigin(message),
        delivery: { ...delivery, destinationId: runtime.destination().id },
      },
    ]);
    runtime.metrics.changed('dead_lettered');
  };

  /**
   * Nothing personal leaves on a grant that was withdrawn: the destination is paused (which stops
   * its worker and abandons this change unfinished), unless a key holding pii:read sets it up
   * again first.
   */
  const holdWhileGrantWithdrawn = async (runtime: DestinationRuntime, signal: AbortSignal): Promise<void> => {
    for (let problem = deps.grants(runtime.destination()); problem; problem = deps.grants(runtime.destination())) {
      runtime.pause(`${problem}; a key holding pii:read must set the destination up again (PATCH), then resume it`);
      await sleepUnlessStopped(deps.policy.maxDelayMs, signal);
    }
  };

  const logAttempt = (
    destination: Destination,
    change: Decoded,
    message: IncomingMessage,
    webhookId: string,
    attempt: Pick<DeliveryAttempt, 'attempt' | 'status' | 'outcome' | 'latencyMs' | 'error'>,
  ): void =>
    deps.log.record({
      destinationId: destination.id,
      webhookId,
      eventType: change.eventType,
      profileId: change.profileId,
      ...attempt,
      at: now(),
      sourceTopic: message.topic,
      sourcePartition: message.partition,
      sourceOffset: Number(message.offset),
    });

  return async (job, runtime) => {
    const { message, signal } = job;
    const destination = runtime.destination();
    const id = webhookId(destination.id, message.topic, message.partition, message.offset);
    let change: Decoded | undefined;
    try {
      const decoding = decode(message);
      change = decoding instanceof Promise ? await decoding : decoding;
    } catch (error) {
      if (isRetriable(error)) throw error;
      await deadLetter(
        runtime,
        message,
        'decode-change',
        { code: 'KUMIKI_UNDECODABLE', reason: errorMessage(error) },
        { webhookId: id, eventType: 'unknown', profileId: message.key?.toString('utf8') ?? null, attempts: 0 },
      );
      return 'dead_lettered';
    }
    if (
      !change ||
      !destination.events.includes(change.eventType) ||
      (change.segmentId !== null && destination.segments !== null && !destination.segments.includes(change.segmentId))
    ) {
      runtime.metrics.changed('skipped');
      return 'skipped';
    }

    // The first attempt's wait for the withheld people begins with the profile table's: the two
    // share their reads of the end offsets, and the change waits once rather than twice.
    let subjectsCaughtUp: Promise<void> | undefined = deps.subjects.current();
    // The profile table must reflect at least what the change reflects (see ProfileTable).
    if (message.topic === deps.topics.changes) await deps.profiles.caughtUpSince(job.receivedAt);
    else await deps.profiles.holds(message.partition, message.offset);

    let body: string | undefined;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw new StoppedError();
      if (deps.grants(runtime.destination())) {
        await holdWhileGrantWithdrawn(runtime, signal);
        subjectsCaughtUp = undefined;
      }
      const current = runtime.destination();
      // An erasure or suppression resolved before this attempt withholds it (queued, retried or replayed).
      await (subjectsCaughtUp ?? deps.subjects.current());
      subjectsCaughtUp = undefined;
      // What is at hand is not awaited: on the hot path each await is a promise per change.
      const found = deps.profiles.get(change.profileId);
      const profile = found instanceof Promise ? await found : found;
      const verdict = consentVerdict(change.profileId, profile, current.purposes, deps.subjects);
      if (!verdict.deliver) {
        runtime.metrics.withheld(verdict.reason);
        runtime.metrics.changed('withheld');
        // The change's one trace: why it did not go (a reason and purposes, never personal data).
        logAttempt(current, change, message, id, {
          attempt,
          status: null,
          outcome: 'withheld',
          latencyMs: 0,
          error: `${verdict.reason}: ${verdict.detail}`,
        });
        return 'withheld';
      }
      body ??= JSON.stringify(change.render(profile!, current));
      const url = runtime.url();
      // The audit record and the recipient ledger's entry are written at once; both are durable
      // before the request leaves.
      const audited = deps.audit(current, {
        action: deliverAction(change.eventType),
        target: url.host,
        profileIds: [change.profileId],
        rows: 1,
      });
      const remembered = deps.recipients.remember(current.id, change.profileId);
      if (audited && remembered) await Promise.all([audited, remembered]);
      else if (audited) await audited;
      else if (remembered) await remembered;
      // The slot first: only requests about to go wait on the rate limiter (few timers, whatever the backlog).
      const slot = runtime.inFlight.acquire(signal);
      const release = typeof slot === 'function' ? slot : await slot;
      let response: WebhookResponse;
      let sentAt: number;
      try {
        const paced = runtime.limiter.acquire(signal);
        if (paced) await paced;
        sentAt = now();
        response = await runtime.sender.send({
          url,
          headers: signedHeaders(runtime.keys(sentAt), id, sentAt, body),
          body,
          timeoutMs: deps.timeoutMs,
        });
      } finally {
        release();
      }
      if (signal.aborted) throw new StoppedError();
      const verdictOfAttempt = judgeAttempt(response, attempt, deps.policy, now());
      const outcome =
        verdictOfAttempt.kind === 'delivered'
          ? 'delivered'
          : verdictOfAttempt.kind === 'retry'
            ? 'failed'
            : 'dead_lettered';
      runtime.metrics.attempt(answerClass(response.status), response.latencyMs / 1000);
      logAttempt(current, change, message, id, {
        attempt,
        status: response.status,
        outcome,
        latencyMs: Math.round(response.latencyMs),
        error: verdictOfAttempt.kind === 'delivered' ? null : verdictOfAttempt.reason,
      });
      switch (verdictOfAttempt.kind) {
        case 'delivered':
          runtime.health.succeeded();
          runtime.metrics.delivered(Math.max(0, now() - change.changedAt) / 1000);
          return 'delivered';
        case 'rejected':
        case 'exhausted':
          if (verdictOfAttempt.kind === 'exhausted') runtime.health.failed(now(), verdictOfAttempt.reason);
          await deadLetter(
            runtime,
            message,
            'deliver-change',
            {
              code: verdictOfAttempt.kind === 'rejected' ? 'KUMIKI_DESTINATION_REJECTED' : 'KUMIKI_DELIVERY_EXHAUSTED',
              reason: verdictOfAttempt.reason,
            },
            { webhookId: id, eventType: change.eventType, profileId: change.profileId, attempts: attempt, response },
          );
          return 'dead_lettered';
        case 'retry':
          runtime.health.failed(now(), verdictOfAttempt.reason);
          await sleepUnlessStopped(verdictOfAttempt.delayMs, signal);
      }
    }
  };
}

const deliverActions = new Map<string, string>();

/** The audit action of an attempt (`DELIVER segment.entered`), one string per event type. */
function deliverAction(eventType: string): string {
  let action = deliverActions.get(eventType);
  if (action === undefined) deliverActions.set(eventType, (action = `DELIVER ${eventType}`));
  return action;
}

const answerClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'];

function answerClass(status: number | null): string {
  return status === null ? 'none' : (answerClasses[Math.floor(status / 100) - 1] ?? `${Math.floor(status / 100)}xx`);
}

/** performance.now(), for `DeliveryJob.receivedAt`. */
export const receivedNow = (): number => performance.now();
