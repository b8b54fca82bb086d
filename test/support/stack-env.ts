/**
 * Where integration tests find the real stack. The global setup starts Kafka and the
 * registry (or reuses a running `kumiki up`) and publishes their addresses here.
 */
export interface TestStack {
  readonly brokers: string[];
  readonly registryUrl: string;
}

export function testStack(): TestStack {
  return {
    brokers: (process.env.KUMIKI_TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    registryUrl: process.env.KUMIKI_TEST_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7',
  };
}

/** Unique names so tests never share a topic, group, subject or database. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
