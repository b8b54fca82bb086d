import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { commonEnvShape, env, parseConfig, type Env } from '../common/config';
import { ConfigError, errorMessage } from '../common/errors';
import { topics } from '../common/kafka/topics';
import { identityRulesSchema, resolveIdentityRules, type IdentityRules } from './identity/identity-rules';

export const stitcherEnv = z.object({
  ...commonEnvShape,
  HTTP_HOST: env.host(),
  HTTP_PORT: env.port(8082),
  /** Topics and group: defaults are kumiki's; tests run an isolated stitcher on their own. */
  STITCHER_RAW_TOPIC: z.string().min(1).default(topics.eventsRaw.name),
  STITCHER_JSON_TOPIC: z.string().min(1).default(topics.eventsJson.name),
  STITCHER_STITCHED_TOPIC: z.string().min(1).default(topics.eventsStitched.name),
  STITCHER_CHANGES_TOPIC: z.string().min(1).default(topics.identityChanges.name),
  STITCHER_GRAPH_TOPIC: z.string().min(1).default(topics.identityGraph.name),
  STITCHER_DLQ_TOPIC: z.string().min(1).default(topics.deadLetters.name),
  STITCHER_GROUP_ID: z.string().min(1).default('kumiki-identity-stitcher'),
  /**
   * One transactional id for the one graph (docs/identity-stitcher.md, "Exactly once"):
   * a second instance with the same id fences the first. Change it only with the graph topic.
   */
  STITCHER_TRANSACTIONAL_ID: z.string().min(1).default('kumiki-identity-stitcher-graph-0'),
  /** Fetch linger: bigger batches mean fewer transactions per event. */
  STITCHER_FETCH_MAX_WAIT_MS: z.coerce.number().int().min(0).default(100),
  STITCHER_FETCH_MIN_BYTES: z.coerce.number().int().min(1).default(1),
  /**
   * Bound of one partition's fetch = of one batch. End to end on 2 cores the stitcher's peak
   * RSS was 251–261 MB with 512 KB (286–301 MB with 1 MB), at about the same rate.
   */
  STITCHER_FETCH_MAX_BYTES_PER_PARTITION: env.positiveInt(524_288),
  STITCHER_TRANSACTION_TIMEOUT_MS: env.positiveInt(60_000),
  /**
   * Input batches in flight at once. Above 1, the batches stitched while a transaction is on
   * the wire commit together in the next one (group commit): 2.4× fewer transactions at 6, but
   * all of them held in memory at once (peak RSS 276–315 MB end to end with 256 KB fetches).
   */
  STITCHER_CONCURRENCY: env.positiveInt(1),
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
      throw new ConfigError([`IDENTITY_RULES_FILE=${JSON.stringify(parsed.IDENTITY_RULES_FILE)}: cannot read a JSON object: ${errorMessage(error)}`]);
    }
  }
  if (parsed.IDENTITY_PHONE_REGION !== undefined) overrides = { ...overrides, phoneDefaultRegion: parsed.IDENTITY_PHONE_REGION.toUpperCase() };
  const result = identityRulesSchema.safeParse(overrides);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `identity rules ${issue.path.join('.') || '(file)'}: ${issue.message}`));
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
} {
  return {
    fetchMaxWaitMs: config.STITCHER_FETCH_MAX_WAIT_MS,
    fetchMinBytes: config.STITCHER_FETCH_MIN_BYTES,
    fetchMaxBytesPerPartition: config.STITCHER_FETCH_MAX_BYTES_PER_PARTITION,
    transactionTimeoutMs: config.STITCHER_TRANSACTION_TIMEOUT_MS,
    sessionTimeoutMs: config.STITCHER_SESSION_TIMEOUT_MS,
    concurrency: config.STITCHER_CONCURRENCY,
  };
}
