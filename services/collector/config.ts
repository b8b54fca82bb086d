import { z } from 'zod';
import { commonEnvShape, env, parseConfig, type Env } from '../common/config';
import { topics } from '../common/kafka/topics';
import { buildSourceMap, channels, sourcesSchema, type SourceMap } from '../common/events/sources';

export const collectorEnv = z.object({
  ...commonEnvShape,
  HTTP_HOST: env.host(),
  HTTP_PORT: env.port(8080),
  /** Basic-auth user the Segment SDKs send; made by `kumiki up` in local mode. */
  KUMIKI_WRITE_KEY: z
    .string({ message: 'is required (the write key SDKs send as the Basic-auth user)' })
    .min(8, 'must be at least 8 characters'),
  /** Source name of KUMIKI_WRITE_KEY's events. */
  KUMIKI_DEFAULT_SOURCE: z.string().min(1).default('default'),
  /** Channel of KUMIKI_WRITE_KEY's events; `auto` infers it from the SDK (browser → web, mobile → mobile, else server). */
  KUMIKI_DEFAULT_CHANNEL: z.enum([...channels, 'auto']).default('auto'),
  /** More write keys: JSON `{ "<writeKey>": { "source": "pos-berlin", "channel": "store" }, … }`. */
  KUMIKI_SOURCES: z
    .string()
    .default('{}')
    .transform((raw, ctx) => {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
        return z.NEVER;
      }
    })
    .pipe(sourcesSchema),
  /** Where accepted events go; tests use their own topics. */
  COLLECTOR_EVENTS_TOPIC: z.string().min(1).default(topics.eventsRaw.name),
  COLLECTOR_DLQ_TOPIC: z.string().min(1).default(topics.deadLetters.name),
  /** How long the first event of a produce batch waits for company. */
  COLLECTOR_LINGER_MS: z.coerce.number().int().min(0).default(2),
  COLLECTOR_MAX_BATCH_MESSAGES: env.positiveInt(5_000),
  /** Per produce call (key, value, headers and framing); below the producer's request bound, so a batch goes in one request. */
  COLLECTOR_MAX_BATCH_BYTES: env.positiveInt(900_000),
  /** Bound on event bytes queued or awaiting Kafka's ack; beyond it requests get 429. */
  COLLECTOR_MAX_PENDING_BYTES: env.positiveInt(64 * 1024 * 1024),
  /** Bound on concurrent requests; beyond it requests get 429 before their body is read (each body may hold up to 500 KB). */
  COLLECTOR_MAX_INFLIGHT_REQUESTS: env.positiveInt(256),
  /** A request whose events are not acknowledged by then gets 503 (the client retries; messageIds dedupe). */
  COLLECTOR_PRODUCE_TIMEOUT_MS: env.positiveInt(10_000),
  COLLECTOR_RETRY_AFTER_SECONDS: env.positiveInt(5),
});

export type CollectorEnv = Readonly<z.output<typeof collectorEnv>>;
export type CollectorConfig = CollectorEnv & { readonly sources: SourceMap };

export function loadCollectorConfig(source: Env): CollectorConfig {
  const parsed = parseConfig(collectorEnv, source);
  const sources = buildSourceMap(
    parsed.KUMIKI_WRITE_KEY,
    { source: parsed.KUMIKI_DEFAULT_SOURCE, channel: parsed.KUMIKI_DEFAULT_CHANNEL },
    parsed.KUMIKI_SOURCES,
  );
  return Object.freeze({ ...parsed, sources });
}
