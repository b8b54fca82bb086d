import path from 'node:path';
import { z } from 'zod';
import { accessEnvShape } from '../common/access/access-config';
import { commonEnvShape, env, parseConfig, type Env } from '../common/config';
import { topics } from '../common/kafka/topics';
import { privacyKeyEnvShape } from '../common/privacy/privacy-key';

const purposeName = /^[a-z][a-z0-9_-]{0,63}$/;

export const activatorEnv = z.object({
  ...commonEnvShape,
  ...accessEnvShape,
  HTTP_HOST: env.host(),
  HTTP_PORT: env.port(8084),
  /** Local state; scheduled exports may only write under `<KUMIKI_HOME>/exports` unless ACTIVATOR_EXPORT_ROOT says otherwise. */
  KUMIKI_HOME: z.string().min(1).default('.kumiki'),
  /**
   * The credentials' admin token: valid as an `admin` key on the destinations API (like the read
   * API's), and how the activator reads segments from the read API. Made by `kumiki up`.
   */
  KUMIKI_ADMIN_TOKEN: z
    .string({ message: 'is required (the admin token of the read API and the destinations API)' })
    .min(16, 'must be at least 16 characters'),
  /**
   * Key that encrypts destinations' signing secrets at rest (AES-256-GCM): 32 bytes, base64.
   * `kumiki up` keeps it in `.kumiki/secrets.key` (mode 0600); every instance needs the same one.
   */
  KUMIKI_SECRETS_KEY: z
    .string({ message: 'is required (32 random bytes, base64: the key that encrypts destination secrets)' })
    .refine((raw) => Buffer.from(raw, 'base64').length === 32, 'must be 32 bytes, base64-encoded'),
  /**
   * The privacy key (the same as the stitcher's and the materializer's): erased and suppressed
   * people are known by keyed hashes of their profile ids, and so is the recipient ledger.
   */
  ...privacyKeyEnvShape,
  /** The profile-materializer's read API: segment ids are checked there, exports read members from it. */
  KUMIKI_READ_API_URL: env.url().default('http://127.0.0.1:8083'),
  /** Consent purposes a destination may declare (the vocabulary of `consent` in events). */
  KUMIKI_PURPOSES: env
    .list('marketing,advertising,analytics,personalization,email,sms,crm')
    .refine((list) => list.every((p) => purposeName.test(p)), 'each purpose must match [a-z][a-z0-9_-]*'),
  /** Topics and consumer groups; tests use their own. */
  ACTIVATOR_CHANGES_TOPIC: z.string().min(1).default(topics.segmentChanges.name),
  ACTIVATOR_UPDATES_TOPIC: z.string().min(1).default(topics.profileUpdates.name),
  ACTIVATOR_DESTINATIONS_TOPIC: z.string().min(1).default(topics.destinations.name),
  ACTIVATOR_DELIVERIES_TOPIC: z.string().min(1).default(topics.deliveryAttempts.name),
  ACTIVATOR_DLQ_TOPIC: z.string().min(1).default(topics.destinationDeadLetters.name),
  /** Privacy: the stitcher's memory of erased and suppressed people, the requests (deletion notices), the recipient ledger. */
  ACTIVATOR_SUBJECTS_TOPIC: z.string().min(1).default(topics.privacySubjects.name),
  ACTIVATOR_PRIVACY_TOPIC: z.string().min(1).default(topics.privacyRequests.name),
  ACTIVATOR_RECIPIENTS_TOPIC: z.string().min(1).default(topics.destinationRecipients.name),
  /** Each destination reads through its own group, `<prefix>.<destination id>.<epoch>`. */
  ACTIVATOR_GROUP_PREFIX: z.string().min(1).default('kumiki-activator'),
  /** Allow webhook targets on loopback and private networks (local tools, tests, on-premise systems). */
  ACTIVATOR_ALLOW_PRIVATE_TARGETS: env.bool(false),
  /** Time one attempt may take, connection to the last byte of the answer. */
  ACTIVATOR_TIMEOUT_MS: env.positiveInt(10_000),
  /** Requests in flight at once per destination (on each instance). */
  ACTIVATOR_CONCURRENCY: env.positiveInt(64),
  /** Changes a destination holds while delivering (on each instance); its consumer waits beyond. */
  ACTIVATOR_MAX_PENDING: env.positiveInt(10_000),
  /** Backoff: first delay, doubling with full jitter up to the maximum. */
  ACTIVATOR_RETRY_INITIAL_MS: env.positiveInt(1_000),
  ACTIVATOR_RETRY_MAX_MS: env.positiveInt(600_000),
  /** Longest `Retry-After` (429, 503) honoured as asked. */
  ACTIVATOR_RETRY_AFTER_MAX_MS: env.positiveInt(3_600_000),
  /** After this many failed attempts a change is dead-lettered (KUMIKI_DELIVERY_EXHAUSTED). */
  ACTIVATOR_MAX_ATTEMPTS: env.positiveInt(25),
  /** A destination with no successful delivery for this long while attempts fail is paused. */
  ACTIVATOR_AUTO_PAUSE_AFTER_MS: env.positiveInt(3_600_000),
  /** How long a rotated-out signing secret keeps signing beside the new one. */
  ACTIVATOR_SECRET_OVERLAP_MS: env.positiveInt(24 * 3_600_000),
  /** How often delivered positions are committed. */
  ACTIVATOR_COMMIT_INTERVAL_MS: env.positiveInt(1_000),
  /** Attempts of the delivery log each instance keeps in memory per destination, for GET …/deliveries. */
  ACTIVATOR_LOG_KEEP: env.positiveInt(1_000),
  /** Directory export destinations may write under (default `<KUMIKI_HOME>/exports`). */
  ACTIVATOR_EXPORT_ROOT: z.string().min(1).optional(),
  /** Run scheduled exports on this instance. */
  ACTIVATOR_SCHEDULED_EXPORTS: env.bool(true),
});

type RawConfig = z.output<typeof activatorEnv>;

export type ActivatorConfig = Readonly<Omit<RawConfig, 'ACTIVATOR_EXPORT_ROOT' | 'KUMIKI_SECRETS_KEY'>> & {
  readonly ACTIVATOR_EXPORT_ROOT: string;
  readonly KUMIKI_SECRETS_KEY: Buffer;
};

export function loadActivatorConfig(source: Env): ActivatorConfig {
  const raw = parseConfig(activatorEnv, source);
  return Object.freeze({
    ...raw,
    KUMIKI_SECRETS_KEY: Buffer.from(raw.KUMIKI_SECRETS_KEY, 'base64'),
    ACTIVATOR_EXPORT_ROOT: path.resolve(raw.ACTIVATOR_EXPORT_ROOT ?? path.join(raw.KUMIKI_HOME, 'exports')),
  });
}
