import { z } from 'zod';
import { commonEnvShape, env, parseConfig, type Env } from '../common/config';

export const stitcherEnv = z.object({
  ...commonEnvShape,
  HTTP_HOST: env.host(),
  HTTP_PORT: env.port(8082),
});

export type StitcherConfig = Readonly<z.output<typeof stitcherEnv>>;

export function loadStitcherConfig(source: Env): StitcherConfig {
  return parseConfig(stitcherEnv, source);
}
