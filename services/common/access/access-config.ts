import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { env } from '../config';
import { topics } from '../kafka/topics';
import { type DetectionSettings, parseRoleHours } from '../audit/detection-rules';
import type { ThrottleSettings } from './failed-auth-throttle';

/** Settings of every service that serves keyed HTTP APIs. */
export const accessEnvShape = {
  /** Failed authentications from one address (or for one key) within the window before 429s start. */
  AUTH_MAX_FAILURES: env.positiveInt(10),
  AUTH_FAILURE_WINDOW_MS: env.positiveInt(60_000),
  /** How long a throttled address or key is answered 429 (Retry-After). */
  AUTH_BLOCK_MS: env.positiveInt(300_000),
  /** The compacted topic of API key records. */
  ACCESS_KEYS_TOPIC: z.string().min(1).default(topics.accessKeys.name),
  /** How long a rotated key's previous secret keeps working. */
  KEY_ROTATION_GRACE_MS: env.positiveInt(24 * 3_600_000),
  /** Where every credentialed call's AuditRecord goes, and the detection rules' SecurityAlerts. */
  AUDIT_TOPIC: z.string().min(1).default(topics.audit.name),
  SECURITY_ALERTS_TOPIC: z.string().min(1).default(topics.securityAlerts.name),
  /** How long an audit record waits for others to share its produce; answers wait for the ack. */
  AUDIT_LINGER_MS: z.coerce.number().int().min(0).default(2),
  /** false only for measurements: calls are then answered without an audit record. */
  AUDIT_ENABLED: env.bool(true),
  /** Detection: a key reading more distinct profiles in an hour than max(this, factor × its hourly average). */
  DETECT_MIN_PROFILES: env.positiveInt(500),
  DETECT_SPIKE_FACTOR: env.positiveInt(10),
  /** Detection: one answer with raw personal data of at least this many rows or profiles. */
  DETECT_BULK_PII_ROWS: env.positiveInt(1_000),
  /** Detection: allowed UTC hours per role, e.g. `analyst=7-19,marketer=6-20`; empty = any time. */
  DETECT_ROLE_HOURS: z
    .string()
    .default('')
    .refine((raw) => parseRoleHours(raw) !== undefined, 'must look like analyst=7-19,marketer=6-20 (UTC hours 0-23)'),
  /**
   * Key of the keyed hashes that stand for identifiers in the audit trail and in masked answers
   * (hex, at least 32 bytes). Unset, as under `kumiki up`: derived from KUMIKI_ADMIN_TOKEN, so
   * every service of one stack agrees.
   */
  KUMIKI_PII_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64,}$/, 'must be at least 64 hex digits (32 bytes)')
    .optional(),
};

export type AccessConfig = Readonly<z.output<z.ZodObject<typeof accessEnvShape>>>;

/** The PII key as bytes: KUMIKI_PII_KEY, else derived from the admin token. */
export function piiKeyOf(config: Pick<AccessConfig, 'KUMIKI_PII_KEY'>, adminToken: string): Buffer {
  if (config.KUMIKI_PII_KEY) return Buffer.from(config.KUMIKI_PII_KEY, 'hex');
  return createHmac('sha256', 'kumiki-pii-key').update(adminToken).digest();
}

export function throttleSettings(config: AccessConfig): ThrottleSettings {
  return {
    maxFailures: config.AUTH_MAX_FAILURES,
    windowMs: config.AUTH_FAILURE_WINDOW_MS,
    blockMs: config.AUTH_BLOCK_MS,
  };
}

export function detectionSettings(config: AccessConfig): DetectionSettings {
  return {
    minProfiles: config.DETECT_MIN_PROFILES,
    spikeFactor: config.DETECT_SPIKE_FACTOR,
    bulkPiiRows: config.DETECT_BULK_PII_ROWS,
    roleHours: parseRoleHours(config.DETECT_ROLE_HOURS)!,
  };
}
