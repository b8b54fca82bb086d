/**
 * Every error kumiki raises says whether trying again can help.
 *
 * Retriable errors (a broker that is down, a registry that times out) are retried with
 * backoff up to a deadline; everything else is a verdict on the input or a bug and is
 * never retried. Built-in TypeError/RangeError/SyntaxError are bugs: `isRetriable()`
 * says false for anything that is not a KumikiError marked retriable.
 */
export type ErrorContext = Readonly<Record<string, string | number | boolean | undefined>>;

export abstract class KumikiError extends Error {
  abstract readonly isRetriable: boolean;
  readonly context: ErrorContext;

  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.context = Object.freeze({ ...context });
  }
}

/** A dependency (Kafka, registry, ClickHouse) is unavailable or timed out; try again later. */
export class DependencyUnavailableError extends KumikiError {
  readonly isRetriable = true;
}

/** Configuration is invalid; lists every problem at once, each naming its variable. */
export class ConfigError extends KumikiError {
  readonly isRetriable = false;
  constructor(
    readonly problems: readonly string[],
    context: ErrorContext = {},
  ) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`, context);
  }
}

/** Input that can never be processed as it is (bad event, bad schema); retrying cannot help. */
export class InvalidInputError extends KumikiError {
  readonly isRetriable = false;
}

/** A schema change the registry refused (for example, not BACKWARD compatible). */
export class SchemaIncompatibleError extends KumikiError {
  readonly isRetriable = false;
}

/** Something kumiki does not expect to happen; a bug, not retried. */
export class InternalError extends KumikiError {
  readonly isRetriable = false;
}

export function isRetriable(error: unknown): boolean {
  return error instanceof KumikiError && error.isRetriable;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
