import { z } from 'zod';
import { env } from '../config';
import { topics } from '../kafka/topics';
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
};

export type AccessConfig = Readonly<z.output<z.ZodObject<typeof accessEnvShape>>>;

export function throttleSettings(config: AccessConfig): ThrottleSettings {
  return {
    maxFailures: config.AUTH_MAX_FAILURES,
    windowMs: config.AUTH_FAILURE_WINDOW_MS,
    blockMs: config.AUTH_BLOCK_MS,
  };
}
