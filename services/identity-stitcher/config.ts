import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { commonEnvShape, env, parseConfig, type Env } from '../common/config';
import { ConfigError, errorMessage } from '../common/errors';
import { topics } from '../common/kafka/topics';
import { privacyKeyEnvShape } from '../common/privacy/privacy-key';
import { identityRulesSchema, resolveIdentityRules, type IdentityRules } from './identity/identity-rules';

export const stitcherEnv = z.object({
  ...commonEnvShape,
  ...privacyKeyEnvShape,
  HTTP_HOST: env.host(),
  HTTP_PORT: env.port(8082),
  /** Topics and group: defaults are kumiki's; tests run an isolated stitcher on their own. */
  STITCHER_RAW_TOPIC: z.string().min(1).default(topics.eventsRaw.name),
  STITCHER_JSON_TOPIC: z.string().min(1).default(topics.eventsJson.name),
  STITCHER_STITCHED_TOPIC: z.string().min(1).default(topics.eventsStitched.name),
  STITCHER_CHANGES_TOPIC: z.string().min(1).default(topics.identityChanges.name),
  STITCHER_GRAPH_TOPIC: z.string().min(1).default(topics.identityGraph.name),
  STITCHER_DLQ_TOPIC: z.string().min(1).default(topics.deadLetters.name),
  /** Privacy requests in (and their answers out), and the compacted memory of erased and suppressed people. */
  STITCHER_PRIVACY_TOPIC: z.string().min(1).default(topics.privacyRequests.name),
  STITCHER_SUBJECTS_TOPIC: z.string().min(1).default(topics.privacySubjects.name),
  STITCHER_GROUP_ID: z.string().min(1).default('kumiki-identity-stitcher'),
  /**
   * One transactional id for the one graph (docs/identity-stitcher.md, "Exactly once"):
   * a second instance with the same id fences the first. Change it only with the graph topic.
   */
  STITCHER_TRANSACTIONAL_ID: z.string().min(1).default('kumiki-identity-stitcher-graph-0'),
  /**
   * Fetch linger: a fetch answers once STITCHER_FETCH_MIN_BYTES are there (all partitions
   * together) or after STITCHER_FETCH_MAX_WAIT_MS. With 64 KB, a fetch at moderate rates brings
   * several partitions' batches, which commit as one transaction (see STITCHER_CONCURRENCY):
   * end to end at half rate, 25 transactions/s instead of 60, the broker at 0.3 cores instead of
   * 0.5, and accept → queryable p95 0.62–0.75 s instead of 1.2–2.1 s. It costs at most the max
   * wait (100 ms) at a trickle.
   */
  STITCHER_FETCH_MAX_WAIT_MS: z.coerce.number().int().min(0).default(100),
  STITCHER_FETCH_MIN_BYTES: z.coerce.number().int().min(1).default(65_536),
  /**
   * Bound of one partition's fetch = of one batch. With 6 batches in flight, 256 KB keeps the
   * stitcher's peak RSS end to end at 249–280 MB (512 KB: 299–343 MB, measured before the
   * decoded events were dropped early; docs/identity-stitcher.md).
   */
  STITCHER_FETCH_MAX_BYTES_PER_PARTITION: env.positiveInt(262_144),
  STITCHER_TRANSACTION_TIMEOUT_MS: env.positiveInt(60_000),
  /**
   * Input batches in flight at once (6 = the input topics' partitions). The batches stitched
   * while a transaction is on the wire commit together in the next one (group commit), so a
   * transaction carries a whole fetch rather than one partition's batch.
   */
  STITCHER_CONCURRENCY: env.positiveInt(6),
  /**
   * Threads that decode Avro events and read their identifiers while the stitcher's own thread
   * runs the graph and writes the outputs (0: everything on that one thread). The graph itself
   * is one thread's work; see docs/identity-stitcher.md, "Throughput".
   */
  STITCHER_LINK_REQUEST_THREADS: z.coerce.number().int().min(0).max(16).default(1),
  /** How soon a crashed instance's partitions are reassigned (≥ the broker's group.min.session.timeout.ms). */
  STITCHER_SESSION_TIMEOUT_MS: env.positiveInt(30_000),
  /**
   * Fault injection for the crash test only: wait this long between sending a transaction's
   * records and committing it (logged), so a kill can be aimed inside an open transaction.
   */
  STITCHER_TEST_PAUSE_BEFORE_COMMIT_MS: z.coerce.number().int().min(0).default(0),
  /** JSON file overriding the identity rules (identity/identity-rules.ts has the shape and defaults). */
  IDENTITY_RULES_FILE: z.string().min(1).optional(),
  /** Region for phone numbers without a country code; overrides the rules file. */
  IDENTITY_PHONE_REGION: z.string().length(2).optional(),
});

export type StitcherEnv = Readonly<z.output<typeof stitcherEnv>>;
export type StitcherConfig = StitcherEnv & { readonly identityRules: IdentityRules };

export function loadStitcherConfig(source: Env): StitcherConfig {
  const parsed = parseConfig(stitcherEnv, source);
  let overrides: z.input<typeof identityRulesSchema> = {};
  if (parsed.IDENTITY_RULES_FILE !== undefined) {
    try {
      overrides = JSON.parse(readFileSync(parsed.IDENTITY_RULES_FILE, 'utf8')) as z.input<typeof identityRulesSchema>;
    } catch (error) {
      throw new ConfigError([
        `IDENTITY_RULES_FILE=${JSON.stringify(parsed.IDENTITY_RULES_FILE)}: cannot read a JSON object: ${errorMessage(error)}`,
      ]);
    }
  }
  if (parsed.IDENTITY_PHONE_REGION !== undefined)
    overrides = { ...overrides, phoneDefaultRegion: parsed.IDENTITY_PHONE_REGION.toUpperCase() };
  const result = identityRulesSchema.safeParse(overrides);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => `identity rules ${issue.path.join('.') || '(file)'}: ${issue.message}`),
    );
  }
  return Object.freeze({ ...parsed, identityRules: resolveIdentityRules(result.data) });
}

/** The stitcher's consumer and transaction tuning, as the service runs it (the benchmark runs the same). */
export function stitcherSettings(config: StitcherEnv): {
  fetchMaxWaitMs: number;
  fetchMinBytes: number;
  fetchMaxBytesPerPartition: number;
  transactionTimeoutMs: number;
  sessionTimeoutMs: number;
  concurrency: number;
  linkRequestThreads: number;
} {
  return {
    fetchMaxWaitMs: config.STITCHER_FETCH_MAX_WAIT_MS,
    fetchMinBytes: config.STITCHER_FETCH_MIN_BYTES,
    fetchMaxBytesPerPartition: config.STITCHER_FETCH_MAX_BYTES_PER_PARTITION,
    transactionTimeoutMs: config.STITCHER_TRANSACTION_TIMEOUT_MS,
    sessionTimeoutMs: config.STITCHER_SESSION_TIMEOUT_MS,
    concurrency: config.STITCHER_CONCURRENCY,
    linkRequestThreads: config.STITCHER_LINK_REQUEST_THREADS,
  };
}
