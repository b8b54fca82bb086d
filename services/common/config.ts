import { z } from 'zod';
import { ConfigError } from './errors';

/**
 * Configuration is read from the environment once, at start, by one schema per service.
 * Every problem is reported at once, each naming its variable; what comes back is frozen
 * and has every default filled in. Nothing else in kumiki reads `process.env`.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export function parseConfig<S extends z.ZodType>(schema: S, env: Env): Readonly<z.output<S>> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = issue.path.join('.') || '(environment)';
      const value = typeof issue.path[0] === 'string' ? env[issue.path[0]] : undefined;
      return value === undefined ? `${name}: ${issue.message}` : `${name}=${JSON.stringify(value)}: ${issue.message}`;
    });
    throw new ConfigError(problems);
  }
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** Building blocks shared by the services' schemas. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback),
  host: () => z.string().min(1).default('127.0.0.1'),
  positiveInt: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  url: () => z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
  list: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((raw) =>
        raw
          .split(',')
          .map((part) => part.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string()).min(1, 'must name at least one value')),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
      .default(fallback ? 'true' : 'false')
      .transform((raw) => raw === 'true' || raw === '1' || raw === 'yes'),
};

/** Kafka, registry and logging settings every service has. */
export const commonEnvShape = {
  KAFKA_BROKERS: env.list('127.0.0.1:9092'),
  KAFKA_CLIENT_ID_PREFIX: z.string().min(1).default('kumiki'),
  SCHEMA_REGISTRY_URL: env.url().default('http://127.0.0.1:8081/apis/ccompat/v7'),
  SCHEMA_REGISTRY_USERNAME: z.string().optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().optional(),
  /** For an https registry whose certificate a private CA signed: that CA's certificate (PEM). */
  SCHEMA_REGISTRY_CA_FILE: z.string().min(1).optional(),
  LOG_LEVEL: env.logLevel(),
  LOG_PRETTY: env.bool(false),
  SHUTDOWN_GRACE_MS: env.positiveInt(15_000),
  /** Kafka over TLS (`SSL` / `SASL_SSL` listeners); the CA file (PEM) when the broker's is private. */
  KAFKA_SSL: env.bool(false),
  KAFKA_SSL_CA_FILE: z.string().min(1).optional(),
  /** Kafka SASL: plain, scram-sha-256 or scram-sha-512, with its username and password. */
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /** HTTPS for the service's listener: certificate and key files (PEM); both or neither. */
  HTTP_TLS_CERT_FILE: z.string().min(1).optional(),
  HTTP_TLS_KEY_FILE: z.string().min(1).optional(),
};

export const clickhouseEnvShape = {
  /** Unset: embedded chDB under KUMIKI_HOME. Set: a ClickHouse server over HTTP. */
  CLICKHOUSE_URL: env.url().optional(),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  /** For an https CLICKHOUSE_URL whose certificate a private CA signed: that CA's certificate (PEM). */
  CLICKHOUSE_CA_FILE: z.string().min(1).optional(),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier')
    .default('kumiki'),
  KUMIKI_HOME: z.string().min(1).default('.kumiki'),
};

/** Masked access and encryption at rest of ClickHouse (docs/access.md); the profile-materializer's. */
export const clickhouseMaskedEnvShape = {
  /**
   * Embedded mode: a file holding 64 hex digits (AES-256 key, mode 0600). Set: tables created
   * from then on are stored on chDB's encrypted disk (AES_256_CTR). `kumiki up` makes one.
   */
  CLICKHOUSE_ENCRYPTION_KEY_FILE: z.string().min(1).optional(),
  /**
   * Server mode: the user that keys without pii:read query as (SELECT on masked_<database> only);
   * kumiki creates it at start when CLICKHOUSE_USER may manage access. Unset password: such keys'
   * SQL is refused (503) rather than run unmasked. docs/access.md.
   */
  CLICKHOUSE_MASKED_USER: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
    .default('kumiki_masked'),
  CLICKHOUSE_MASKED_PASSWORD: z.string().min(16, 'must be at least 16 characters').optional(),
};
