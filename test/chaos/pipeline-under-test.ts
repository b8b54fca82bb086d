import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { topics as kumikiTopics } from '../../services/common/kafka/topics';
import { freePort } from '../support/ports';
import { spawnService, type ServiceProcess, type SpawnableService } from '../support/service-process';
import { waitFor } from '../support/wait-for';
import { reaped } from '../support/reaper';
import { spawnWebhookReceiver } from './webhook-receiver-process';

/** What the harness runs and kills: kumiki's services, and the webhook receiver the activator delivers to. */
export type ServiceName = SpawnableService | 'webhook-receiver';

/**
 * One run's pipeline (the fault-free one or the chaos one): every service as its own process,
 * the built one (dist/), on topics, groups, transactional ids and a ClickHouse database of the
 * run's own. The chaos harness kills, stops and restarts its processes; each instance's output
 * is kept in the run's log directory.
 *
 * `services` below is the one list of what runs: to put another service under chaos, add its
 * entry (its environment, and its aimed kill if it has a test-only hook) and its oracle check
 * in oracle.ts.
 */
export interface ServiceSpec {
  readonly name: ServiceName;
  /** The run's environment of this service (the pipeline adds Kafka, registry and HTTP port). */
  readonly env: (
    run: RunNames,
    cluster: ClusterSettings,
    urlOf: (service: ServiceName) => string,
  ) => Record<string, string>;
  /** How a process of it starts (default: the built service, dist/services/<name>/main.js). */
  readonly spawn?: (run: RunNames, env: Record<string, string>) => ServiceProcess;
  /**
   * Aiming a kill inside an open transaction: start an instance with `env` and kill it when it
   * prints `moment` (the hook then holds the transaction open), or, when `killsItself`, wait
   * for the hook's own SIGKILL (`moment` is what it logs first, when the log gets out in time).
   */
  readonly aimed?: { readonly env: Record<string, string>; readonly moment: RegExp; readonly killsItself: boolean };
  /** What an instance prints when a newer one fenced it (zombies). */
  readonly fenced?: RegExp;
}

/** Names of one run: topics `<prefix>.<name>`, groups and transactional ids `<prefix>-…`. */
export interface RunNames {
  readonly prefix: string;
  readonly topic: (name: keyof typeof topicNames) => string;
  readonly adminToken: string;
  readonly writeKey: string;
  /** Embedded ClickHouse lives here (unless the cluster has a server). */
  readonly home: string;
  /** The webhook receiver's record (`received.ndjson`) and the destination's secret (`secret`). */
  readonly webhooks: string;
}

/** Where the run's pipeline finds Kafka, the registry and ClickHouse. */
export interface ClusterSettings {
  readonly brokers: string;
  readonly registryUrl: string;
  /** A ClickHouse server; embedded chDB under each run's home when absent. */
  readonly clickhouse?: { readonly url: string; readonly user: string; readonly password: string };
}

/** The run's topics, named after kumiki's (`<prefix>.raw` stands for kumiki.events.raw). */
export const topicNames = {
  raw: kumikiTopics.eventsRaw,
  json: kumikiTopics.eventsJson,
  stitched: kumikiTopics.eventsStitched,
  changes: kumikiTopics.identityChanges,
  graph: kumikiTopics.identityGraph,
  updates: kumikiTopics.profileUpdates,
  segments: kumikiTopics.segmentChanges,
  dlq: kumikiTopics.deadLetters,
  keys: kumikiTopics.accessKeys,
  audit: kumikiTopics.audit,
  alerts: kumikiTopics.securityAlerts,
  destinations: kumikiTopics.destinations,
  deliveries: kumikiTopics.deliveryAttempts,
  destinationsDlq: kumikiTopics.destinationDeadLetters,
  recipients: kumikiTopics.destinationRecipients,
  subjects: kumikiTopics.privacySubjects,
  privacy: kumikiTopics.privacyRequests,
} as const;

/** The activator's key for destination secrets at rest (32 bytes, base64): any fixed one will do. */
const secretsKey = Buffer.alloc(32, 7).toString('base64');

/** Session timeouts of the consumers under chaos: a killed instance's partitions move on after this. */
export const sessionTimeoutMs = 10_000;

export const services: readonly ServiceSpec[] = [
  {
    name: 'webhook-receiver',
    env: (run) => ({
      RECEIVER_FILE: path.join(run.webhooks, 'received.ndjson'),
      RECEIVER_SECRET_FILE: path.join(run.webhooks, 'secret'),
    }),
    spawn: (run, env) => spawnWebhookReceiver(run.webhooks, env),
  },
  {
    name: 'profile-materializer',
    env: (run, cluster) => ({
      KUMIKI_HOME: run.home,
      KUMIKI_ADMIN_TOKEN: run.adminToken,
      MATERIALIZER_STITCHED_TOPIC: run.topic('stitched'),
      MATERIALIZER_CHANGES_TOPIC: run.topic('changes'),
      MATERIALIZER_UPDATES_TOPIC: run.topic('updates'),
      MATERIALIZER_DLQ_TOPIC: run.topic('dlq'),
      MATERIALIZER_GROUP_ID: `${run.prefix}-materializer`,
      MATERIALIZER_SESSION_TIMEOUT_MS: String(sessionTimeoutMs),
      SEGMENT_CHANGES_TOPIC: run.topic('segments'),
      ACCESS_KEYS_TOPIC: run.topic('keys'),
      AUDIT_TOPIC: run.topic('audit'),
      SECURITY_ALERTS_TOPIC: run.topic('alerts'),
      PIPELINE_STITCHER_GROUP_ID: `${run.prefix}-stitcher`,
      PIPELINE_STITCHER_TOPICS: `${run.topic('raw')},${run.topic('json')}`,
      // Faster than the defaults so that a short run still sees many snapshots and sweeps.
      RFM_SNAPSHOT_MIN_INTERVAL_MS: '2000',
      SEGMENT_SWEEP_INTERVAL_MS: '20000',
      RFM_CURRENCY_RATES: 'EUR=1.08',
      // The oracle reads every row of a run through the read API.
      SQL_MAX_RESULT_ROWS: '5000000',
      SQL_MAX_EXECUTION_SECONDS: '120',
      ...(cluster.clickhouse
        ? {
            CLICKHOUSE_URL: cluster.clickhouse.url,
            CLICKHOUSE_USER: cluster.clickhouse.user,
            CLICKHOUSE_PASSWORD: cluster.clickhouse.password,
            CLICKHOUSE_DATABASE: run.prefix.replace(/[^A-Za-z0-9_]/g, '_'),
          }
        : {}),
    }),
    aimed: {
      env: { MATERIALIZER_FAULT_KILL_BEFORE_COMMIT: '1' },
      moment: /fault injection: SIGKILL before commit/,
      killsItself: true,
    },
  },
  {
    name: 'activator',
    env: (run, _cluster, urlOf) => ({
      KUMIKI_HOME: path.join(run.home, 'activator'),
      KUMIKI_ADMIN_TOKEN: run.adminToken,
      KUMIKI_SECRETS_KEY: secretsKey,
      KUMIKI_READ_API_URL: urlOf('profile-materializer'),
      ACTIVATOR_CHANGES_TOPIC: run.topic('segments'),
      ACTIVATOR_UPDATES_TOPIC: run.topic('updates'),
      ACTIVATOR_DESTINATIONS_TOPIC: run.topic('destinations'),
      ACTIVATOR_DELIVERIES_TOPIC: run.topic('deliveries'),
      ACTIVATOR_DLQ_TOPIC: run.topic('destinationsDlq'),
      ACTIVATOR_SUBJECTS_TOPIC: run.topic('subjects'),
      ACTIVATOR_PRIVACY_TOPIC: run.topic('privacy'),
      ACTIVATOR_RECIPIENTS_TOPIC: run.topic('recipients'),
      ACCESS_KEYS_TOPIC: run.topic('keys'),
      AUDIT_TOPIC: run.topic('audit'),
      SECURITY_ALERTS_TOPIC: run.topic('alerts'),
      ACTIVATOR_GROUP_PREFIX: `${run.prefix}-activator`,
      ACTIVATOR_ALLOW_PRIVATE_TARGETS: 'true',
      ACTIVATOR_SCHEDULED_EXPORTS: 'false',
      // A receiver killed and restarted is back within seconds: retries that soon find it, and
      // the attempts (25) outlast any of its absences, so nothing is dead-lettered for it.
      ACTIVATOR_RETRY_INITIAL_MS: '250',
      ACTIVATOR_RETRY_MAX_MS: '5000',
      ACTIVATOR_TIMEOUT_MS: '5000',
    }),
  },
  {
    name: 'identity-stitcher',
    env: (run) => ({
      STITCHER_RAW_TOPIC: run.topic('raw'),
      STITCHER_JSON_TOPIC: run.topic('json'),
      STITCHER_STITCHED_TOPIC: run.topic('stitched'),
      STITCHER_CHANGES_TOPIC: run.topic('changes'),
      STITCHER_GRAPH_TOPIC: run.topic('graph'),
      STITCHER_DLQ_TOPIC: run.topic('dlq'),
      STITCHER_GROUP_ID: `${run.prefix}-stitcher`,
      STITCHER_TRANSACTIONAL_ID: `${run.prefix}-stitcher`,
      STITCHER_SESSION_TIMEOUT_MS: String(sessionTimeoutMs),
    }),
    aimed: {
      env: { STITCHER_TEST_PAUSE_BEFORE_COMMIT_MS: '4000' },
      moment: /test fault injection: transaction sent, pausing before commit/,
      killsItself: false,
    },
    fenced: /stopping: fenced by another stitcher instance/,
  },
  {
    name: 'collector',
    env: (run) => ({
      KUMIKI_WRITE_KEY: run.writeKey,
      KUMIKI_DEFAULT_CHANNEL: 'web',
      COLLECTOR_EVENTS_TOPIC: run.topic('raw'),
      COLLECTOR_DLQ_TOPIC: run.topic('dlq'),
      COLLECTOR_RETRY_AFTER_SECONDS: '1',
    }),
  },
];

export function specOf(name: ServiceName): ServiceSpec {
  const spec = services.find((s) => s.name === name);
  if (!spec) throw new Error(`no service ${name} in the chaos pipeline`);
  return spec;
}

/** One process of a service, with what it printed and how it ended. */
export interface Instance {
  readonly service: ServiceName;
  readonly number: number;
  /** When it was spawned (epoch ms). */
  readonly startedAt: number;
  readonly process: ServiceProcess;
  /** Output printed after `from` characters matches `pattern` (bounded wait). */
  printed(pattern: RegExp, from: number, timeoutMs: number): Promise<void>;
}

export class PipelineUnderTest {
  private readonly current = new Map<ServiceName, Instance>();
  private readonly all: Instance[] = [];
  private readonly ports = new Map<ServiceName, number>();
  /** Set once the pipeline is being stopped: exits from then on are expected. */
  stopping = false;

  constructor(
    readonly run: RunNames,
    private readonly cluster: ClusterSettings,
    private readonly logDir: string,
  ) {
    mkdirSync(logDir, { recursive: true });
  }

  url(service: ServiceName): string {
    const port = this.ports.get(service);
    if (port === undefined) throw new Error(`${service} has not been started`);
    return `http://127.0.0.1:${port}`;
  }

  instance(service: ServiceName): Instance | undefined {
    return this.current.get(service);
  }

  /** Starts every service, downstream first, and waits until each is ready. */
  async startAll(readyTimeoutMs: number): Promise<void> {
    for (const spec of services) {
      await this.spawn(spec.name);
      await this.ready(spec.name, readyTimeoutMs);
    }
  }

  /**
   * A new process of `service`, on the port of the ones before it unless `newPort` (a zombie
   * still holds that one). Does not wait for it to be ready.
   */
  async spawn(service: ServiceName, extraEnv: Record<string, string> = {}, newPort = false): Promise<Instance> {
    let port = this.ports.get(service);
    if (port === undefined || newPort) {
      port = await freePort();
      this.ports.set(service, port);
    }
    const spec = specOf(service);
    const env = {
      KAFKA_BROKERS: this.cluster.brokers,
      SCHEMA_REGISTRY_URL: this.cluster.registryUrl,
      HTTP_PORT: String(port),
      LOG_LEVEL: 'info',
      ...spec.env(this.run, this.cluster, (other) => this.url(other)),
      ...extraEnv,
    };
    // Every entry without `spawn` is one of kumiki's built services.
    const process = spec.spawn ? spec.spawn(this.run, env) : spawnService(service as SpawnableService, env);
    reaped(process.child);
    const number = this.all.filter((i) => i.service === service).length + 1;
    const instance: Instance = {
      service,
      number,
      startedAt: Date.now(),
      process,
      printed: (pattern, from, timeoutMs) =>
        waitFor(
          () => {
            if (!pattern.test(process.output().slice(from)))
              throw new Error(`${service} #${number} did not print ${pattern}`);
          },
          { timeoutMs, intervalMs: 20 },
        ),
    };
    const file = createWriteStream(path.join(this.logDir, `${service}-${String(number).padStart(3, '0')}.log`));
    process.child.stdout!.on('data', (chunk: Buffer) => file.write(chunk));
    process.child.stderr!.on('data', (chunk: Buffer) => file.write(chunk));
    void process.exit.then(({ code, signal }) => file.end(`[exit code ${code} signal ${signal}]\n`));
    this.all.push(instance);
    this.current.set(service, instance);
    return instance;
  }

  /** Waits until the current instance of `service` answers /ready (fails at once if it exited). */
  async ready(service: ServiceName, timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        const instance = this.current.get(service);
        if (!instance) throw new Error(`${service} is not running`);
        const { child } = instance.process;
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`${service} #${instance.number} exited (${child.exitCode ?? child.signalCode})`);
        const response = await fetch(`${this.url(service)}/ready`, { signal: AbortSignal.timeout(10_000) });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`${service} /ready answered ${response.status}`);
      },
      { timeoutMs, intervalMs: 250 },
    );
  }

  isReady(service: ServiceName): Promise<boolean> {
    return this.ready(service, 0).then(
      () => true,
      () => false,
    );
  }

  /** Stops every running process (SIGTERM, then SIGKILL after its grace), intake first. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const spec of [...services].reverse()) {
      const instance = this.current.get(spec.name);
      this.current.delete(spec.name);
      await instance?.process.stop();
    }
    for (const instance of this.all) await instance.process.stop();
  }

  /** Kills every process at once (the harness itself is being stopped). */
  killAll(): void {
    this.stopping = true;
    for (const { process } of this.all) {
      process.child.kill('SIGCONT');
      process.child.kill('SIGKILL');
    }
  }

  /** A call with the admin token on the materializer's read API (or `service`'s); the parsed answer. */
  async api<T>(
    method: 'GET' | 'POST',
    pathname: string,
    body?: unknown,
    timeoutMs = 180_000,
    service: ServiceName = 'profile-materializer',
  ): Promise<T> {
    const response = await fetch(`${this.url(service)}${pathname}`, {
      method,
      headers: {
        authorization: `Bearer ${this.run.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${pathname} answered ${response.status}: ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  }

  async sql<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
    return (await this.api<{ rows: T[] }>('POST', '/v1/sql', { query, params })).rows;
  }
}
