import { z } from 'zod';
import { clickhouseEnvShape, commonEnvShape, env, parseConfig, type Env } from '../common/config';

export const materializerEnv = z.object({
  ...commonEnvShape,
  ...clickhouseEnvShape,
  HTTP_HOST: env.host(),
  HTTP_PORT: env.port(8083),
  /** Bearer token of the read API; made by `kumiki up` in local mode. */
  KUMIKI_ADMIN_TOKEN: z.string({ message: 'is required (the read API Bearer token)' }).min(16, 'must be at least 16 characters'),
});

export type MaterializerConfig = Readonly<z.output<typeof materializerEnv>>;

export function loadMaterializerConfig(source: Env): MaterializerConfig {
  return parseConfig(materializerEnv, source);
}
