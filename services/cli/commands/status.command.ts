import type { CliConfig } from '../config';
import { isOurProcess } from '../local/child-process';
import { httpJson, httpStatus, isPortOpen, probeKafka } from '../local/probes';
import { componentOrder, readStack, type ComponentName, type ComponentRecord } from '../local/run-state';
import { registryUrl } from '../local/schema-registry';
import { consoleUrl, serviceUrl } from '../local/services';
import { formatStatusTable, statusReport, type ComponentStatus, type StatusReport } from './status-report';

/**
 * `kumiki status [--json]`: asks every component whether it answers, using the addresses
 * the running stack recorded (or the configured defaults when none is recorded).
 * Exit code 0 only when everything is up.
 */
export async function statusCommand(config: CliConfig, options: { json: boolean }): Promise<number> {
  const report = await collectStatus(config);
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatusTable(report));
  return report.ok ? 0 : 1;
}

export async function collectStatus(config: CliConfig): Promise<StatusReport> {
  const stack = await readStack(config.paths.run);
  const recorded = new Map<ComponentName, ComponentRecord>((stack?.components ?? []).map((c) => [c.name, c]));
  const statuses = await Promise.all(
    componentOrder.map(async (name) => {
      const record = recorded.get(name);
      const address = record?.address || configuredAddress(config, name);
      const pid = record?.pid ?? null;
      const pidAlive = pid === null ? null : isOurProcess(pid, record?.match ?? null);
      const probe = await probeComponent(name, address);
      return { name, address, pid, pidAlive, ...probe } satisfies ComponentStatus;
    }),
  );
  const materializer = statuses.find((s) => s.name === 'profile-materializer');
  return statusReport(statuses, materializer ? consoleUrl(materializer.address) : null);
}

function configuredAddress(config: CliConfig, name: ComponentName): string {
  switch (name) {
    case 'kafka':
      return (config.external.kafkaBrokers ?? [`127.0.0.1:${config.ports.kafka}`]).join(',');
    case 'registry':
      return config.external.registryUrl ?? registryUrl(config.ports.registry);
    case 'profile-materializer':
      return serviceUrl(config.ports.materializer);
    case 'activator':
      return serviceUrl(config.ports.activator);
    case 'identity-stitcher':
      return serviceUrl(config.ports.stitcher);
    case 'collector':
      return serviceUrl(config.ports.collector);
  }
}

async function probeComponent(
  name: ComponentName,
  address: string,
): Promise<Pick<ComponentStatus, 'state' | 'detail'>> {
  if (name === 'kafka') return probeBrokers(address.split(','));
  if (name === 'registry') {
    const subjects = await httpJson(`${address}/subjects`);
    return Array.isArray(subjects)
      ? { state: 'up', detail: `${subjects.length} subject${subjects.length === 1 ? '' : 's'}` }
      : { state: 'down', detail: 'GET /subjects did not answer 200' };
  }
  const [health, ready] = await Promise.all([httpStatus(`${address}/health`), httpStatus(`${address}/ready`)]);
  if (health === undefined && ready === undefined) return { state: 'down', detail: 'no answer' };
  return { state: ready === 200 ? 'up' : 'not ready', detail: `health ${health ?? '-'}, ready ${ready ?? '-'}` };
}

async function probeBrokers(brokers: string[]): Promise<Pick<ComponentStatus, 'state' | 'detail'>> {
  // A closed local port answers at once; only a listening one is worth a Kafka request.
  const [first] = brokers;
  const local = brokers.length === 1 && first !== undefined && /^127\.0\.0\.1:\d+$/.test(first);
  if (local && !(await isPortOpen(Number(first.split(':')[1]))))
    return { state: 'down', detail: 'nothing listens on the port' };
  const probe = await probeKafka(brokers, 3_000);
  return probe.reachable
    ? { state: 'up', detail: `${probe.brokers} broker${probe.brokers === 1 ? '' : 's'}` }
    : { state: 'down', detail: probe.reason };
}
