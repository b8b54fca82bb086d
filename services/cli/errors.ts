import { KumikiError, type ErrorContext } from '../common/errors';

/**
 * What can stop `kumiki up`. None is retriable by the CLI itself: each message says what
 * the user has to change (install a tool, free a port, read a log).
 */

/** A program the local stack needs (java, mvn) is missing or too old. */
export class PrerequisiteMissingError extends KumikiError {
  readonly isRetriable = false;
}

/** Something that is not part of this kumiki stack already listens on a port we need. */
export class PortInUseError extends KumikiError {
  readonly isRetriable = false;
  constructor(readonly busy: readonly { port: number; setting: string; purpose: string }[]) {
    super(
      busy.length === 1
        ? describe(busy[0]!)
        : `${busy.length} ports kumiki needs are in use by other programs:\n${busy.map((b) => `  - ${describe(b)}`).join('\n')}`,
      { ports: busy.map((b) => b.port).join(',') },
    );
  }
}

function describe(b: { port: number; setting: string; purpose: string }): string {
  return `port ${b.port} (${b.purpose}) is already in use by another program; stop it or set ${b.setting} to a free port`;
}

/** A component exited or did not become ready in time; the message carries its log tail. */
export class ComponentFailedError extends KumikiError {
  readonly isRetriable = false;
  constructor(message: string, context: ErrorContext & { component: string }) {
    super(message, context);
  }
}

/** Fetching a runtime from Maven Central failed (network, proxy, disk). */
export class RuntimeFetchError extends KumikiError {
  readonly isRetriable = true;
}

/** `up` was interrupted (Ctrl-C) before the stack was ready. */
export class StartAbortedError extends KumikiError {
  readonly isRetriable = false;
}
