import { testPrivacyKey } from '../../support/privacy-key';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import pino from 'pino';
import { createClickHouse, type ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { runMigrations } from '../../../services/common/clickhouse/migrations';
import type { KafkaClient } from '../../../services/common/kafka/client';
import { createTestTopic } from '../../support/kafka';
import { freePort } from '../../support/ports';
import { testStack, uniqueName } from '../../support/stack-env';

export const quietLogger = pino({ level: process.env.KUMIKI_TEST_LOG_LEVEL ?? 'silent' });

/**
 * Embedded ClickHouse for one test file: chDB allows one data directory per process, so the
 * file gets its own directory and every test its own database, migrated from scratch.
 */
export function embeddedHome(fileTag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `kumiki-${fileTag}-`));
}

export async function freshDatabase(home: string): Promise<ClickHouse> {
  const database = uniqueName('t').replace(/-/g, '_');
  const ch = await createClickHouse(
    {
      CLICKHOUSE_URL: undefined,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_DATABASE: database,
      KUMIKI_HOME: home,
    },
    quietLogger,
  );
  await runMigrations(ch, { logger: quietLogger });
  return ch;
}

/**
 * Environment of an in-process profile-materializer on fresh topics (one partition each) and
 * the given database, with short fetch lingers and RFM snapshot spacing so tests do not wait:
 * merge test specifics over it.
 */
export async function materializerEnv(
  kafka: KafkaClient,
  home: string,
  ch: ClickHouse,
  topicPrefix: string,
): Promise<Record<string, string>> {
  const [stitched, changes, updates, dlq] = await Promise.all(
    ['stitched', 'changes', 'updates', 'dlq'].map((p) => createTestTopic(kafka, `${topicPrefix}-${p}`, 1)),
  );
  return {
    KAFKA_BROKERS: testStack().brokers.join(','),
    SCHEMA_REGISTRY_URL: testStack().registryUrl,
    LOG_LEVEL: process.env.KUMIKI_TEST_LOG_LEVEL ?? 'silent',
    KUMIKI_HOME: home,
    CLICKHOUSE_DATABASE: ch.database,
    KUMIKI_ADMIN_TOKEN: 'test-admin-token-0123456789',
    KUMIKI_PRIVACY_KEY: testPrivacyKey,
    PRIVACY_REQUESTS_TOPIC: uniqueName(`${topicPrefix}-privacy`),
    HTTP_PORT: String(await freePort()),
    MATERIALIZER_STITCHED_TOPIC: stitched!,
    MATERIALIZER_CHANGES_TOPIC: changes!,
    MATERIALIZER_UPDATES_TOPIC: updates!,
    MATERIALIZER_DLQ_TOPIC: dlq!,
    MATERIALIZER_GROUP_ID: uniqueName('materializer'),
    MATERIALIZER_LINGER_MS: '20',
    MATERIALIZER_FETCH_MIN_BYTES: '1',
    // ProfileUpdates carry the RFM snapshot's rows: tests should not wait 5 s for the next one.
    RFM_SNAPSHOT_MIN_INTERVAL_MS: '200',
  };
}
