import { Counter, type Registry } from 'prom-client';
import type { SecurityAlert } from '../../../schemas';
import type { AccessDecision } from '../access';
import type { EventProducer } from '../kafka/client';
import type { Logger } from '../logger';
import { DetectionRules, type DetectionSettings, withId } from './detection-rules';

/**
 * Runs the detection rules on every call and reports each alert three ways: a SecurityAlert on
 * kumiki.security.alerts (which the materializer copies into `security_alerts` for
 * GET /v1/security/alerts), a warning log line, and `kumiki_security_alerts_total{rule}`.
 * Publishing does not hold the call's answer: a failed publish is logged and the log line and
 * metric remain.
 */
export function createSecurityAlerts(options: {
  readonly producer: () => EventProducer;
  readonly topic: string;
  readonly encode: (topic: string, value: SecurityAlert) => Buffer;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly service: string;
  readonly settings: DetectionSettings;
}): { observe(decision: AccessDecision): void } {
  const rules = new DetectionRules(options.settings);
  const logger = options.logger.child({ component: 'security-alerts' });
  const counter = new Counter({
    name: 'kumiki_security_alerts_total',
    help: 'Security alerts raised by the detection rules, by rule',
    labelNames: ['rule'],
    registers: [options.metrics],
  });
  return {
    observe(decision) {
      for (const draft of rules.observe(decision)) {
        const alert = withId(draft, options.service);
        counter.inc({ rule: alert.rule });
        logger.warn({ alert: { rule: alert.rule, severity: alert.severity, subject: alert.subject } }, alert.detail);
        void options
          .producer()
          .send(options.topic, [{ key: alert.rule, value: options.encode(options.topic, alert) }])
          .catch((error: unknown) => logger.error({ err: error, rule: alert.rule }, 'security alert not published'));
      }
    },
  };
}
