import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createHttpServer, httpTls } from '../../../../services/common/http-server';
import { createKafkaClient, type KafkaClient } from '../../../../services/common/kafka/client';
import { kafkaSecurity } from '../../../../services/common/service-base';
import { makeKeystore, makeSelfSignedCertificate } from '../../../support/certificates';
import { freePort } from '../../../support/ports';
import { startPrivateBroker, type PrivateBroker } from '../../../support/private-broker';
import { uniqueName } from '../../../support/stack-env';
import { waitFor } from '../../../support/wait-for';

jest.setTimeout(300_000);
const logger = pino({ level: 'silent' });

describe('Kafka over SASL_SSL (SCRAM-SHA-512 and PLAIN)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-tls-'));
  let broker: PrivateBroker;
  let secureAddress = '';
  let ca = '';

  beforeAll(async () => {
    const made = makeKeystore(dir, 'store-secret');
    ca = made.ca;
    const port = await freePort();
    secureAddress = `127.0.0.1:${port}`;
    broker = await startPrivateBroker({
      secureListener: {
        port,
        scramUsers: ['SCRAM-SHA-512=[name=alice,password=alice-secret-123]'],
        properties: [
          ['ssl.keystore.type', 'PKCS12'],
          ['ssl.keystore.location', made.keystore],
          ['ssl.keystore.password', 'store-secret'],
          ['ssl.key.password', 'store-secret'],
          ['sasl.enabled.mechanisms', 'PLAIN,SCRAM-SHA-512'],
          [
            'listener.name.sasl_ssl.plain.sasl.jaas.config',
            'org.apache.kafka.common.security.plain.PlainLoginModule required user_bob="bob-secret-123";',
          ],
          [
            'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config',
            'org.apache.kafka.common.security.scram.ScramLoginModule required;',
          ],
        ],
      },
    });
  });
  afterAll(async () => {
    await broker?.close();
  });

  const client = (mechanism: 'plain' | 'scram-sha-512', username: string, password: string): KafkaClient =>
    createKafkaClient({
      brokers: [secureAddress],
      clientId: uniqueName('tls'),
      logger,
      connectionTimeoutMs: 10_000,
      ...kafkaSecurity({
        KAFKA_BROKERS: [secureAddress],
        KAFKA_CLIENT_ID_PREFIX: 'kumiki',
        LOG_LEVEL: 'silent',
        LOG_PRETTY: false,
        KAFKA_SSL: true,
        KAFKA_SSL_CA_FILE: ca,
        KAFKA_SASL_MECHANISM: mechanism,
        KAFKA_SASL_USERNAME: username,
        KAFKA_SASL_PASSWORD: password,
      }),
    });

  async function roundTrip(kafka: KafkaClient): Promise<string[]> {
    const topic = uniqueName('secure');
    const admin = kafka.admin();
    await admin.connect();
    await admin.ensureTopics([{ name: topic, partitions: 1, cleanup: 'delete', key: 'test' }]);
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send(topic, [{ key: 'k', value: 'over TLS' }]);
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: uniqueName('secure'), topics: [topic], fromBeginning: true });
    const received: string[] = [];
    await consumer.connect();
    void consumer.run(async (batch, context) => {
      for (const m of batch.messages) {
        received.push(m.value!.toString());
        context.resolveOffset(m.offset);
      }
    });
    try {
      await waitFor(() => expect(received).toEqual(['over TLS']), { timeoutMs: 60_000 });
    } finally {
      await consumer.disconnect();
    }
    return received;
  }

  it('produces and consumes with SCRAM-SHA-512 over TLS', async () => {
    expect(await roundTrip(client('scram-sha-512', 'alice', 'alice-secret-123'))).toEqual(['over TLS']);
  });

  it('produces and consumes with PLAIN over TLS', async () => {
    expect(await roundTrip(client('plain', 'bob', 'bob-secret-123'))).toEqual(['over TLS']);
  });

  it('refuses a wrong password', async () => {
    const admin = client('scram-sha-512', 'alice', 'not-the-password').admin();
    await expect(admin.connect()).rejects.toThrow(/SASL|authentication|Authentication/);
  });
});

describe('HTTPS listener', () => {
  it('serves /health over TLS with the configured certificate, and not over plain HTTP', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-https-'));
    const { certFile: cert, keyFile: key } = makeSelfSignedCertificate(dir, 'listener');
    const port = await freePort();
    const server = createHttpServer({
      host: '127.0.0.1',
      port,
      logger,
      metrics: new Registry(),
      probe: { isHealthy: () => true, isReady: () => true, readiness: () => ({}) },
      ...httpTls({ HTTP_TLS_CERT_FILE: cert, HTTP_TLS_KEY_FILE: key }),
    });
    await server.start();
    try {
      expect(server.address()).toBe(`https://127.0.0.1:${port}`);
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get(`https://127.0.0.1:${port}/health`, { ca: fs.readFileSync(cert) }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve(`${res.statusCode} ${text}`));
          })
          .on('error', reject);
      });
      expect(body).toBe('200 {"status":"ok"}');
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
      expect(() => httpTls({ HTTP_TLS_CERT_FILE: cert })).toThrow(
        'HTTP_TLS_CERT_FILE and HTTP_TLS_KEY_FILE must be set together',
      );
    } finally {
      await server.stop();
    }
  });
});
