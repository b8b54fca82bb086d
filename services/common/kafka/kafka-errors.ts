import { DependencyUnavailableError, errorMessage } from '../errors';

/**
 * What a failed Kafka call throws: connection-level failures and kafkajs' retriable errors become
 * a retriable error that names what we were doing; an error kafkajs marks non-retriable (a bad
 * request, say) is thrown as it is.
 */
export function kafkaFailure(action: string, error: unknown, context: Record<string, string> = {}): unknown {
  const retriable = (error as { retriable?: boolean }).retriable !== false || isConnectionError(error);
  if (!retriable) return error;
  return new DependencyUnavailableError(
    `Kafka: cannot ${action}: ${errorMessage(error)}`,
    { dependency: 'kafka', ...context },
    { cause: error },
  );
}

/** Runs one Kafka call; its failure is thrown as `kafkaFailure` says. */
export async function unavailableOnFailure<T>(
  action: string,
  task: () => Promise<T>,
  context: Record<string, string> = {},
): Promise<T> {
  try {
    return await task();
  } catch (error) {
    throw kafkaFailure(action, error, context);
  }
}

/**
 * A broker that could not be reached, however kafkajs wrapped it: when its retries run out
 * inside an outer retrier, the connection error arrives as the `cause` of a
 * KafkaJSNonRetriableError, which alone would say "do not retry".
 */
function isConnectionError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 8; depth++) {
    const name = (current as { name?: string }).name ?? '';
    if (/Connection|NumberOfRetriesExceeded|RequestTimeout|BrokerNotFound/.test(name)) return true;
    const cause = (current as { cause?: unknown }).cause;
    if (cause === current) break;
    current = cause;
  }
  return false;
}
