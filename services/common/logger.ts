import pino, { type Logger } from 'pino';
import { logLevel as KafkaLogLevel, type logCreator } from 'kafkajs';

export type { Logger };

/** Paths that may carry personal data; pino replaces them before a line is written. */
export const redactedPaths = [
  'traits.email',
  'traits.phone',
  'traits.name',
  'traits.address',
  'context.ip',
  'context.traits',
  '*.traits.email',
  '*.traits.phone',
  '*.context.ip',
  'writeKey',
  'adminToken',
  'secret',
  'password',
  'sasl.password',
  '*.secret',
  '*.password',
  'headers.authorization',
  'req.headers.authorization',
];

export interface LoggerOptions {
  readonly service: string;
  readonly level: string;
  readonly pretty: boolean;
}

/** One root logger per process; components take `logger.child({ component })`. */
export function createLogger(options: LoggerOptions): Logger {
  return pino({
    level: options.level,
    base: { service: options.service, pid: process.pid },
    redact: { paths: redactedPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(options.pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  });
}

const kafkaLevels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};

/**
 * kafkajs messages about a normal part of how kumiki uses Kafka, logged at debug:
 * - the transaction coordinator still writing the previous commit's markers: kafkajs logs the
 *   broker's answer as an error, then retries it;
 * - bounded retries on an idempotent producer, which kafkajs warns about at every start: a send
 *   that fails after its retries is never taken as written — the collector answers 503 and the
 *   client sends again (duplicates are dropped downstream by messageId), and a failed
 *   transaction is aborted together with its offsets.
 */
const routineMessages =
  /another concurrent operation on the same transaction|Limiting retries for the idempotent producer/;

/**
 * A coordinator moving or still loading (a fresh broker, a restart): kafkajs logs the broker's
 * answer as an error and retries it. A warning, since it is only an error once the retries run
 * out, and then our own code reports the failure.
 */
const retriedCoordinatorAnswers = /coordinator is loading|coordinator is not available|not the correct coordinator/i;

/** Routes kafkajs' own logging into pino, keeping its fields as data. */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...fields } = log;
      const text = `${String(message)} ${String(fields.error ?? '')}`;
      const kafkaLevel = kafkaLevels[level] ?? 'info';
      const method = routineMessages.test(text)
        ? 'debug'
        : kafkaLevel === 'error' && retriedCoordinatorAnswers.test(text)
          ? 'warn'
          : kafkaLevel;
      logger[method]({ ...fields, kafkaNamespace: namespace }, String(message));
    };
}
