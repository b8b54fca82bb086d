import { logLevel } from 'kafkajs';
import pino from 'pino';
import { kafkaLogCreator } from '../../../../services/common/logger';

function capture(): {
  lines: { level: number; msg: string; kafkaNamespace: string }[];
  log: ReturnType<ReturnType<typeof kafkaLogCreator>>;
} {
  const lines: { level: number; msg: string; kafkaNamespace: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { lines, log: kafkaLogCreator(logger)(logLevel.DEBUG) };
}

describe('kafkajs log bridge', () => {
  it('keeps kafkajs levels and fields', () => {
    const { lines, log } = capture();
    log({
      namespace: 'Connection',
      level: logLevel.ERROR,
      label: 'ERROR',
      log: {
        message: 'Response Produce',
        timestamp: 'x',
        logger: 'kafkajs',
        error: 'Not authorized to access topics: [Topic authorization failed]',
      },
    });
    expect(lines).toEqual([
      expect.objectContaining({ level: 50, msg: 'Response Produce', kafkaNamespace: 'Connection' }),
    ]);
  });

  it('logs the coordinator still finishing the previous transaction (retried, routine) at debug', () => {
    const { lines, log } = capture();
    const busy =
      'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';
    log({
      namespace: 'Connection',
      level: logLevel.ERROR,
      label: 'ERROR',
      log: {
        message: 'Response AddPartitionsToTxn(key: 24, version: 1)',
        timestamp: 'x',
        logger: 'kafkajs',
        error: busy,
      },
    });
    log({
      namespace: 'Producer',
      level: logLevel.ERROR,
      label: 'ERROR',
      log: { message: `Failed to send messages: ${busy}`, timestamp: 'x', logger: 'kafkajs' },
    });
    expect(lines.map((line) => line.level)).toEqual([20, 20]);
  });

  it('logs the warning about bounded idempotent retries (a failed send is never taken as written) at debug', () => {
    const { lines, log } = capture();
    log({
      namespace: 'Producer',
      level: logLevel.WARN,
      label: 'WARN',
      log: {
        message: 'Limiting retries for the idempotent producer may invalidate EoS guarantees',
        timestamp: 'x',
        logger: 'kafkajs',
      },
    });
    log({
      namespace: 'Producer',
      level: logLevel.WARN,
      label: 'WARN',
      log: { message: 'Something else', timestamp: 'x', logger: 'kafkajs' },
    });
    expect(lines.map((line) => line.level)).toEqual([20, 40]);
  });

  it('logs a coordinator still loading or moving (retried by kafkajs) as a warning', () => {
    const { lines, log } = capture();
    for (const error of [
      "The coordinator is loading and hence can't process requests for this group",
      'The group coordinator is not available',
      'This is not the correct coordinator for this group',
    ]) {
      log({
        namespace: 'Connection',
        level: logLevel.ERROR,
        label: 'ERROR',
        log: { message: 'Response InitProducerId(key: 22, version: 1)', timestamp: 'x', logger: 'kafkajs', error },
      });
    }
    expect(lines.map((line) => line.level)).toEqual([40, 40, 40]);
  });
});
