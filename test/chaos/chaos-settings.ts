import os from 'node:os';
import { z } from 'zod';
import { testStack } from '../support/stack-env';

/**
 * The chaos run's settings, read once from the environment (docs/chaos.md lists them).
 * Sizes follow CHAOS_MINUTES; nothing is derived from how fast the machine turns out to be.
 */
const chaosEnv = z.object({
  CHAOS_MINUTES: z.coerce.number().positive().default(10),
  /** Unset: a random one, printed, so the run can be replayed. */
  CHAOS_SEED: z.coerce
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  /** People in the workload (default 60 a minute: about 3,000 events a minute). */
  CHAOS_PEOPLE: z.coerce.number().int().positive().optional(),
  CHAOS_KILLS_PER_SERVICE: z.coerce.number().int().min(0).default(24),
  CHAOS_BROKER_BOUNCES: z.coerce.number().int().min(0).default(6),
  CHAOS_ZOMBIES: z.coerce.number().int().min(0).default(2),
  /** Share of the stitcher's and materializer's kills aimed inside a transaction. */
  CHAOS_AIMED_SHARE: z.coerce.number().min(0).max(1).default(0.3),
  /** Bound of each wait (a service's start, a delivery, the drain); generous for shared machines. */
  CHAOS_WAIT_MINUTES: z.coerce.number().positive().default(15),
  /** Your own cluster (docs/chaos.md): without KAFKA_BROKERS a private broker is started for the run. */
  KAFKA_BROKERS: z.string().min(1).optional(),
  SCHEMA_REGISTRY_URL: z.string().url().optional(),
  CLICKHOUSE_URL: z.string().url().optional(),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CHAOS_BROKER_STOP_COMMAND: z.string().min(1).optional(),
  CHAOS_BROKER_START_COMMAND: z.string().min(1).optional(),
  /** Where logs and import files go (default: a new directory under the system's temp dir). */
  CHAOS_DIR: z.string().min(1).optional(),
});

export interface ChaosSettings {
  readonly minutes: number;
  readonly seed: number;
  readonly people: number;
  readonly killsPerService: number;
  readonly brokerBounces: number;
  readonly zombies: number;
  readonly aimedShare: number;
  readonly waitMs: number;
  readonly registryUrl: string;
  readonly external?: { readonly brokers: string; readonly stopCommand?: string; readonly startCommand?: string };
  readonly clickhouse?: { readonly url: string; readonly user: string; readonly password: string };
  readonly directory?: string;
}

export function chaosSettings(source: NodeJS.ProcessEnv): ChaosSettings {
  const parsed = chaosEnv.safeParse(source);
  if (!parsed.success)
    throw new Error(
      `chaos settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const env = parsed.data;
  return Object.freeze({
    minutes: env.CHAOS_MINUTES,
    seed: env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31),
    people: env.CHAOS_PEOPLE ?? Math.max(20, Math.round(60 * env.CHAOS_MINUTES)),
    killsPerService: env.CHAOS_KILLS_PER_SERVICE,
    brokerBounces: env.CHAOS_BROKER_BOUNCES,
    zombies: env.CHAOS_ZOMBIES,
    aimedShare: env.CHAOS_AIMED_SHARE,
    waitMs: env.CHAOS_WAIT_MINUTES * 60_000,
    registryUrl: env.SCHEMA_REGISTRY_URL ?? testStack().registryUrl,
    ...(env.KAFKA_BROKERS
      ? {
          external: {
            brokers: env.KAFKA_BROKERS,
            ...(env.CHAOS_BROKER_STOP_COMMAND ? { stopCommand: env.CHAOS_BROKER_STOP_COMMAND } : {}),
            ...(env.CHAOS_BROKER_START_COMMAND ? { startCommand: env.CHAOS_BROKER_START_COMMAND } : {}),
          },
        }
      : {}),
    ...(env.CLICKHOUSE_URL
      ? { clickhouse: { url: env.CLICKHOUSE_URL, user: env.CLICKHOUSE_USER, password: env.CLICKHOUSE_PASSWORD } }
      : {}),
    ...(env.CHAOS_DIR ? { directory: env.CHAOS_DIR } : {}),
  });
}

/** The machine's load, printed with every run (a shared machine slows everything down). */
export function machineLoad(): string {
  const [one, five, fifteen] = os.loadavg().map((n) => n.toFixed(2));
  return `load ${one} ${five} ${fifteen} on ${os.cpus().length} cores`;
}
