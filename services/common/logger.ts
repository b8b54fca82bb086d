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
const routineMessages = /another concurrent operation on the same transaction|Limiting retries for the idempotent producer/;

/** Routes kafkajs' own logging into pino, keeping its fields as data. */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...fields } = log;
      const routine = routineMessages.test(`${String(message)} ${String(fields.error ?? '')}`);
      const method = routine ? 'debug' : (kafkaLevels[level] ?? 'info');
      logger[method]({ ...fields, kafkaNamespace: namespace }, String(message));
    };
}
