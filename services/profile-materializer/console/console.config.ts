import path from 'node:path';
import { z } from 'zod';
import { env } from '../../common/config';
import { topics } from '../../common/kafka/topics';
import { projectRoot } from '../../common/paths';

/**
 * Settings of the web console and the read endpoints it uses (docs/console.md), spread into the
 * materializer's one config schema.
 */
export const consoleEnvShape = {
  /** The built console (`npm run build` writes it); served under /console/. */
  CONSOLE_DIR: z
    .string()
    .min(1)
    .default(path.join(projectRoot(), 'dist', 'console')),
  /** The identity-stitcher's consumer group and input topics, for its lag on the Overview page. */
  PIPELINE_STITCHER_GROUP_ID: z.string().min(1).default('kumiki-identity-stitcher'),
  PIPELINE_STITCHER_TOPICS: env.list(`${topics.eventsRaw.name},${topics.eventsJson.name}`),
};
