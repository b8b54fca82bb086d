import type { AuditRecord, SecurityAlert } from '../../../schemas';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { connectWithBackoff } from '../../common/dependency';
import type { KafkaClient } from '../../common/kafka/client';
import type { Component } from '../../common/lifecycle';
import type { Logger } from '../../common/logger';
import { writeAuditRows } from './audit-log.repository';

/**
 * Copies kumiki.audit into `audit_log` and kumiki.security.alerts into `security_alerts`,
 * for every service's records (the activator's too). Offsets are committed after the insert;
 * a replay rewrites the same (writer_id, sequence) rows, which the table folds.
 */
export function createAuditSink(options: {
  readonly kafka: KafkaClient;
  readonly clickhouse: () => ClickHouse;
  readonly decode: (buffer: Buffer) => Promise<unknown>;
  readonly auditTopic: string;
  readonly alertsTopic: string;
  readonly groupId: string;
  readonly logger: Logger;
}): Component {
  const logger = options.logger.child({ component: 'audit-sink' });
  const abort = new AbortController();
  const consumer = options.kafka.consumer({
    groupId: options.groupId,
    topics: [options.auditTopic, options.alertsTopic],
    fromBeginning: true,
    maxWaitTimeInMs: 200,
  });
  let running = false;
  return {
    name: 'audit-sink',
    async start() {
      await connectWithBackoff('audit sink consumer', () => consumer.connect(), logger, abort.signal);
      running = true;
      void consumer
        .run(async (batch, context) => {
          const values = await Promise.all(batch.messages.filter((m) => m.value).map((m) => options.decode(m.value!)));
          if (batch.topic === options.auditTopic) await writeAuditRows(options.clickhouse(), values as AuditRecord[]);
          else
            await options.clickhouse().insert(
              'security_alerts',
              (values as SecurityAlert[]).map((a) => ({
                alert_id: a.alertId,
                at: a.at,
                rule: a.rule,
                severity: a.severity,
                subject: a.subject,
                detail: a.detail,
                service: a.service,
              })),
            );
          const last = batch.messages.at(-1);
          if (last) context.resolveOffset(last.offset);
          await context.commit();
        })
        .catch((error: unknown) => {
          running = false;
          logger.error({ err: error }, 'audit sink stopped');
        });
    },
    async stop() {
      abort.abort();
      running = false;
      await consumer.disconnect().catch(() => undefined);
    },
    isHealthy: () => true,
    isReady: () => running,
  };
}
