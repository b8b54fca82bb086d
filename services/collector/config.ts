import { z } from 'zod';
import { commonEnvShape, env, parseConfig, type Env } from '../common/config';

export const collectorEnv = z.object({
  ...commonEnvShape,
  HTTP_HOST: env.host(),
  HTTP_PORT: env.port(8080),
  /** Basic-auth user the Segment SDKs send; made by `kumiki up` in local mode. */
  KUMIKI_WRITE_KEY: z.string({ message: 'is required (the write key SDKs send as the Basic-auth user)' }).min(8, 'must be at least 8 characters'),
});

export type CollectorConfig = Readonly<z.output<typeof collectorEnv>>;

export function loadCollectorConfig(source: Env): CollectorConfig {
  return parseConfig(collectorEnv, source);
}
