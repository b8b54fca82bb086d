import { z } from 'zod';
import {
  clickhouseEnvShape,
  clickhouseMaskedEnvShape,
  commonEnvShape,
  env,
  parseConfig,
  type Env,
} from '../common/config';
import { topics } from '../common/kafka/topics';
import { accessEnvShape } from '../common/access/access-config';
import { defaultPersonalKeys } from '../common/clickhouse/masking';
import { normaliseCurrency, parseRates } from './rfm/money';
import type { RfmSettings } from './rfm/rfm';
import { segmentEvaluationEnvShape } from './segments/evaluation/segment-evaluation.config';
import { consoleEnvShape } from './console/console.config';
import { predictionsEnvShape } from './predictions/predictions.config';
import { privacyEnvShape } from './privacy/privacy.config';

export const materializerEnv = z.object({
  ...commonEnvShape,
  ...clickhouseEnvShape,
  ...clickhouseMaskedEnvShape,
  /** Trait and JSON keys whose values are pseudonymised for keys without pii:read (comma-separated). */
  PII_PERSONAL_KEYS: env.list(defaultPersonalKeys.join(',')),
  ...segmentEvaluationEnvShape,
  ...consoleEnvShape,
  ...accessEnvShape,
  ...predictionsEnvShape,
  ...privacyEnvShape,
  HTTP_HOST: env.host(),
  HTTP_PORT: env.port(8083),
  /** Bearer token of the read API; made by `kumiki up` in local mode. */
  KUMIKI_ADMIN_TOKEN: z
    .string({ message: 'is required (the read API Bearer token)' })
    .min(16, 'must be at least 16 characters'),
  /** Topics and consumer group; tests use their own. */
  MATERIALIZER_STITCHED_TOPIC: z.string().min(1).default(topics.eventsStitched.name),
  MATERIALIZER_CHANGES_TOPIC: z.string().min(1).default(topics.identityChanges.name),
  MATERIALIZER_UPDATES_TOPIC: z.string().min(1).default(topics.profileUpdates.name),
  MATERIALIZER_DLQ_TOPIC: z.string().min(1).default(topics.deadLetters.name),
  MATERIALIZER_GROUP_ID: z.string().min(1).default('kumiki-profile-materializer'),
  /**
   * How soon a crashed instance's partitions are reassigned (≥ the broker's
   * group.min.session.timeout.ms): a restarted instance waits this long for its predecessor's
   * membership to lapse before it consumes.
   */
  MATERIALIZER_SESSION_TIMEOUT_MS: env.positiveInt(30_000),
  /**
   * Messages per ClickHouse write (a larger Kafka batch is written in chunks of this size).
   * 10,000: each write also fills three views and parts of their tables, so fewer, larger writes
   * cost less per event (README, materializer benchmark: +10–15 % over 5,000); above it the
   * inserts themselves get slower on chDB.
   */
  MATERIALIZER_BATCH_SIZE: env.positiveInt(10_000),
  /** Linger: how long a fetch waits for MATERIALIZER_FETCH_MIN_BYTES before the batch is written anyway. */
  MATERIALIZER_LINGER_MS: z.coerce.number().int().min(0).default(200),
  MATERIALIZER_FETCH_MIN_BYTES: env.positiveInt(256 * 1024),
  /**
   * While behind, profile updates (snapshots, RFM) of consumed batches are refreshed together at
   * most this often, or once they touched MATERIALIZER_REFRESH_MAX_PROFILES distinct profiles; offsets are
   * committed only after that refresh. A consumer that is caught up refreshes after every batch.
   */
  MATERIALIZER_REFRESH_INTERVAL_MS: env.positiveInt(2_000),
  MATERIALIZER_REFRESH_MAX_PROFILES: env.positiveInt(50_000),
  MATERIALIZER_FETCH_MAX_BYTES_PER_PARTITION: env.positiveInt(4 * 1024 * 1024),
  /**
   * How far the JavaScript heap may grow past what the last full collection left live, in per
   * cent; 0 leaves it to V8 (up to 300). 100 trades a little CPU for less peak memory (heap-growth.ts).
   */
  MATERIALIZER_HEAP_GROWTH_PERCENT: z.coerce.number().int().min(0).max(300).default(0),
  /** Which track events are purchases and refunds (comma-separated names). */
  RFM_PURCHASE_EVENTS: env.list('Order Completed'),
  RFM_REFUND_EVENTS: env.list('Order Refunded'),
  RFM_WINDOW_DAYS: env.positiveInt(365),
  /** The rfm view reads a snapshot: one at least this often (recency follows the clock)… */
  RFM_SNAPSHOT_INTERVAL_MS: env.positiveInt(600_000),
  /**
   * …and one this long after the last, at the earliest (and no sooner than ten times the last
   * one's duration), once orders, refunds or merges arrived. ProfileUpdates carry the snapshot's
   * RFM, so this is about how long an order takes to reach them.
   */
  RFM_SNAPSHOT_MIN_INTERVAL_MS: env.positiveInt(5_000),
  /** Currency of monetary; amounts without a currency are taken to be in it. */
  RFM_CURRENCY: z
    .string()
    .regex(/^[A-Za-z]{3}$/, 'must be a 3-letter currency code')
    .default('USD'),
  /** Rates to RFM_CURRENCY: `EUR=1.08,JPY=0.0067` (1 EUR = 1.08 RFM_CURRENCY). Currencies without a rate count 0. */
  RFM_CURRENCY_RATES: z
    .string()
    .default('')
    .refine((raw) => {
      try {
        parseRates(raw, 'XXX');
        return true;
      } catch {
        return false;
      }
    }, 'must look like EUR=1.08,JPY=0.0067 (positive decimals)'),
  /**
   * Fault injection for tests (0 = off): the process kills itself with SIGKILL after the n-th
   * publish of profile updates (its batches written and published) but before their offsets are committed.
   */
  MATERIALIZER_FAULT_KILL_BEFORE_COMMIT: z.coerce.number().int().min(0).default(0),
  /** Read API limits for POST /v1/sql. */
  SQL_MAX_EXECUTION_SECONDS: env.positiveInt(10),
  SQL_MAX_RESULT_ROWS: env.positiveInt(10_000),
  SQL_MAX_MEMORY_BYTES: env.positiveInt(1_000_000_000),
});

export type MaterializerConfig = Readonly<z.output<typeof materializerEnv>>;

export function loadMaterializerConfig(source: Env): MaterializerConfig {
  return parseConfig(materializerEnv, source);
}

/** The RFM settings the config describes (also written to ClickHouse for the rfm views). */
export function rfmSettingsFromConfig(
  config: Pick<
    MaterializerConfig,
    'RFM_PURCHASE_EVENTS' | 'RFM_REFUND_EVENTS' | 'RFM_WINDOW_DAYS' | 'RFM_CURRENCY' | 'RFM_CURRENCY_RATES'
  >,
): RfmSettings {
  const reportingCurrency = normaliseCurrency(config.RFM_CURRENCY)!;
  return {
    purchaseEvents: [...config.RFM_PURCHASE_EVENTS],
    refundEvents: [...config.RFM_REFUND_EVENTS],
    windowDays: config.RFM_WINDOW_DAYS,
    rates: parseRates(config.RFM_CURRENCY_RATES, reportingCurrency),
    reportingCurrency,
  };
}
