import pino from 'pino';
import { createProducerConnection } from '../../../services/common/kafka/producer-connection';
import { createTestTopic, readMessages, testKafka } from '../../support/kafka';
import { freePort } from '../../support/ports';
import { spawnService as startService } from '../../support/service-process';
import { waitFor } from '../../support/wait-for';

function logMessages(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; component?: string })
    .map((entry) => (entry.component ? `${entry.msg}: ${entry.component}` : entry.msg));
}

describe('service process lifecycle', () => {
  it('SIGTERM stops intake first, then the producer and Kafka, and exits 0', async () => {
    const port = await freePort();
    const started = startService('collector', { HTTP_PORT: String(port), KUMIKI_WRITE_KEY: 'wk_test_key_123' });
    try {
      await waitFor(
        async () => {
          const response = await fetch(`http://127.0.0.1:${port}/ready`);
          if (response.status !== 200) throw new Error(`ready answered ${response.status}`);
        },
        { timeoutMs: 60_000 },
      );
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain('kumiki_process_cpu_user_seconds_total{service="collector"}');

      started.child.kill('SIGTERM');
      expect(await started.exit).toEqual({ code: 0, signal: null });
      const stops = logMessages(started.output()).filter(
        (m) => m.startsWith('component stopped') || m === 'service stopped',
      );
      // Intake (HTTP) stops first; the producer flushes before Kafka's admin connection goes; the
      // Kafka connection, started first, stops last.
      expect(stops[0]).toBe('component stopped: http-server');
      expect(stops.indexOf('component stopped: producer')).toBeGreaterThan(0);
      expect(stops.slice(-2)).toEqual(['component stopped: kafka', 'service stopped']);
    } finally {
      started.child.kill('SIGKILL');
    }
  });

  it('refuses a bad configuration with every problem named, exit code 2', async () => {
    const started = startService('profile-materializer', { HTTP_PORT: 'x', CLICKHOUSE_URL: 'ftp:/nope' });
    const { code } = await started.exit;
    expect(code).toBe(2);
    const text = started.output();
    expect(text).toContain('profile-materializer: invalid configuration');
    expect(text).toMatch(/HTTP_PORT="x"/);
    expect(text).toMatch(/CLICKHOUSE_URL="ftp:\/nope"/);
    expect(text).toMatch(/KUMIKI_ADMIN_TOKEN: is required/);
    expect(text).not.toContain('    at '); // a readable list, not a stack trace
  });

  it('a producer stopped mid-stream delivers every send it accepted', async () => {
    const kafka = testKafka();
    const topic = await createTestTopic(kafka, 'flush');
    const connection = createProducerConnection({ client: kafka, logger: pino({ level: 'silent' }) });
    await connection.start();
    const sends = Array.from({ length: 50 }, (_, i) =>
      connection.producer.send(topic, [{ key: `k${i}`, value: `v${i}` }]),
    );
    await connection.stop();
    await Promise.all(sends);
    const messages = await readMessages(kafka, topic, 50);
    expect(messages.map((m) => m.value?.toString()).sort()).toEqual(
      Array.from({ length: 50 }, (_, i) => `v${i}`).sort(),
    );
  });
});
