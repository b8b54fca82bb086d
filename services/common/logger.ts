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
 * Broker answers kafkajs logs as errors although they are a normal, retried part of the
 * protocol: the transaction coordinator still writing the previous commit's markers.
 */
const routineErrors = /another concurrent operation on the same transaction/;

/** Routes kafkajs' own logging into pino, keeping its fields as data. */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...fields } = log;
      const routine = routineErrors.test(`${String(message)} ${String(fields.error ?? '')}`);
      const method = routine ? 'debug' : (kafkaLevels[level] ?? 'info');
      logger[method]({ ...fields, kafkaNamespace: namespace }, String(message));
    };
}
