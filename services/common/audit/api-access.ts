import type { Registry } from 'prom-client';
import {
  type AccessConfig,
  type AccessControlOptions,
  type AccessDecision,
  createKeyFollower,
  detectionSettings,
  FailedAuthThrottle,
  KeyCache,
  throttleSettings,
} from '../access';
import type { EventProducer, KafkaClient } from '../kafka/client';
import type { Component } from '../lifecycle';
import type { Logger } from '../logger';
import { auditFieldsOf } from './audit-record';
import { AuditWriter } from './audit-writer';
import { createSecurityAlerts } from './security-alerts';

/**
 * What every service with a keyed HTTP API runs (docs/access.md): the keys it follows from the
 * key topic, its audit writer (one hash chain per process), the detection rules, and the
 * options `installAccessControl` takes. The key follower is a component of the service, started
 * before its HTTP edge so that no call is answered before the keys are known.
 */
export interface ApiAccess {
  readonly keys: KeyCache;
  readonly keyFollower: Component;
  readonly auditWriter: AuditWriter;
  readonly control: AccessControlOptions;
  /** Whether calls and deliveries are audited (AUDIT_ENABLED; false only for measurements). */
  readonly auditing: boolean;
}

export function createApiAccess(deps: {
  readonly config: AccessConfig & { readonly KUMIKI_ADMIN_TOKEN: string };
  readonly service: string;
  readonly groupIdPrefix: string;
  readonly kafka: KafkaClient;
  readonly producer: () => EventProducer;
  readonly encode: (topic: string, value: unknown) => Buffer;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly piiKey: Buffer;
}): ApiAccess {
  const { config, service } = deps;
  const { encode } = deps;
  const keys = new KeyCache();
  const keyFollower = createKeyFollower({
    kafka: deps.kafka,
    topic: config.ACCESS_KEYS_TOPIC,
    cache: keys,
    logger: deps.logger,
    groupIdPrefix: deps.groupIdPrefix,
  });
  const auditWriter = new AuditWriter({
    producer: deps.producer,
    topic: config.AUDIT_TOPIC,
    encode,
    service,
    logger: deps.logger,
    lingerMs: config.AUDIT_LINGER_MS,
  });
  const alerts = createSecurityAlerts({
    producer: deps.producer,
    topic: config.SECURITY_ALERTS_TOPIC,
    encode,
    logger: deps.logger,
    metrics: deps.metrics,
    service,
    settings: detectionSettings(config),
  });
  const onDecision = async (decision: AccessDecision): Promise<void> => {
    alerts.observe(decision);
    if (config.AUDIT_ENABLED) await auditWriter.append(auditFieldsOf(decision, { service, piiKey: deps.piiKey }));
  };
  return {
    keys,
    keyFollower,
    auditWriter,
    auditing: config.AUDIT_ENABLED,
    control: {
      keys,
      adminToken: config.KUMIKI_ADMIN_TOKEN,
      throttle: new FailedAuthThrottle(throttleSettings(config)),
      onDecision,
    },
  };
}
