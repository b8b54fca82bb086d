import { z } from 'zod';
import { topics } from '../../common/kafka/topics';
import { privacyKeyEnvShape } from '../../common/privacy/privacy-key';
import type { PrivacyTopics } from './privacy-executor.deps';

/** Settings of privacy requests, part of the materializer's env schema (`...privacyEnvShape`). */
export const privacyEnvShape = {
  ...privacyKeyEnvShape,
  /** Where requests arrive and their answers and notices go; tests use their own. */
  PRIVACY_REQUESTS_TOPIC: z.string().min(1).default(topics.privacyRequests.name),
  /** Consumer group of the requests (default `<MATERIALIZER_GROUP_ID>.privacy`). */
  PRIVACY_GROUP_ID: z.string().min(1).optional(),
  /**
   * The identity stitcher's topics, which an erase's report reads for what is left of the person
   * (the materializer consumes none of them). Defaults are kumiki's names.
   */
  PRIVACY_RAW_TOPIC: z.string().min(1).default(topics.eventsRaw.name),
  PRIVACY_JSON_TOPIC: z.string().min(1).default(topics.eventsJson.name),
  PRIVACY_GRAPH_TOPIC: z.string().min(1).default(topics.identityGraph.name),
  /** The activator's recipient ledger, read for the destinations an export lists. */
  PRIVACY_RECIPIENTS_TOPIC: z.string().min(1).default(topics.destinationRecipients.name),
  /**
   * Consent purposes a person must have granted for their events to join their profile
   * (comma-separated, e.g. `analytics`); empty: none required. See privacy/profiling-consent.ts.
   */
  PROFILING_PURPOSES: z
    .string()
    .default('')
    .transform((raw) =>
      raw
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'purposes are names like analytics or marketing'))),
  /** Days events are kept in ClickHouse, by event time; 0: forever (retention/retention-ttl.ts). */
  EVENTS_RETENTION_DAYS: z.coerce.number().int().min(0).default(0),
  /** Days a profile is kept in ClickHouse after its last event; 0: forever (retention/retention-ttl.ts). */
  PROFILE_RETENTION_DAYS: z.coerce.number().int().min(0).default(0),
  /** Fault injection for the crash test only: SIGKILL right after this step of a request (its checkpoint written). */
  PRIVACY_FAULT_KILL_AFTER_STEP: z.string().min(1).optional(),
};

/** The topics a privacy request touches or reads, under the names the materializer is configured with. */
export function privacyTopicsOf(
  config: Readonly<
    Record<
      | 'PRIVACY_REQUESTS_TOPIC'
      | 'MATERIALIZER_UPDATES_TOPIC'
      | 'MATERIALIZER_STITCHED_TOPIC'
      | 'MATERIALIZER_CHANGES_TOPIC'
      | 'MATERIALIZER_DLQ_TOPIC'
      | 'PRIVACY_RAW_TOPIC'
      | 'PRIVACY_JSON_TOPIC'
      | 'PRIVACY_GRAPH_TOPIC',
      string
    >
  >,
  segmentsTopic: string,
): PrivacyTopics {
  return {
    privacy: config.PRIVACY_REQUESTS_TOPIC,
    updates: config.MATERIALIZER_UPDATES_TOPIC,
    stitched: config.MATERIALIZER_STITCHED_TOPIC,
    changes: config.MATERIALIZER_CHANGES_TOPIC,
    segments: segmentsTopic,
    deadLetters: config.MATERIALIZER_DLQ_TOPIC,
    raw: config.PRIVACY_RAW_TOPIC,
    json: config.PRIVACY_JSON_TOPIC,
    graph: config.PRIVACY_GRAPH_TOPIC,
  };
}
