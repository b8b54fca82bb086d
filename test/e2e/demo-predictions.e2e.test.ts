import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../services/cli/main';
import { downstreamConsumer } from '../support/downstream';
import { startPipeline, type RunningPipeline } from '../support/pipeline';
import { withServiceLogsOnFailure } from '../support/service-process';
import { testStack } from '../support/stack-env';
import { waitFor } from '../support/wait-for';

/**
 * Predictions end to end: `kumiki demo` through the three services, then every purchaser has
 * predictions in ClickHouse (no NaN anywhere), the profile API and the latest ProfileUpdate of a
 * purchaser (decoded downstream through the registry) carry the predictions view's figures, and a
 * segment rule on p_alive has exactly the members SQL gives it.
 */
jest.setTimeout(300_000);

describe('predictions after kumiki demo', () => {
  let pipeline: RunningPipeline;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-demo-predictions-'));

  beforeAll(async () => {
    pipeline = await startPipeline();
  });
  afterAll(async () => {
    await pipeline?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('fills predictions for every purchaser, and the API, ProfileUpdates and segments show them', () =>
    withServiceLogsOnFailure(async () => {
      const downstream = await downstreamConsumer([pipeline.topics.updates]);
      fs.writeFileSync(
        path.join(home, 'credentials.json'),
        JSON.stringify({ writeKey: pipeline.collector.writeKey, adminToken: pipeline.adminToken }),
        { mode: 0o600 },
      );
      let printed = '';
      const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        printed += chunk.toString();
        return true;
      });
      let exitCode: number;
      try {
        exitCode = await main(
          [
            ...['node', 'kumiki', 'demo', '--people', '500', '--days', '60', '--seed', '5'],
            ...[
              '--raw-topic',
              pipeline.topics.raw,
              '--dlq-topic',
              pipeline.topics.dlq,
              '--timeout',
              '150',
              '--no-progress',
            ],
          ],
          {
            PATH: process.env.PATH,
            KUMIKI_HOME: home,
            KUMIKI_COLLECTOR_PORT: new URL(pipeline.collector.url).port,
            KUMIKI_READ_API_URL: pipeline.materializer.url,
            KAFKA_BROKERS: testStack().brokers.join(','),
            SCHEMA_REGISTRY_URL: testStack().registryUrl,
          },
        );
      } finally {
        write.mockRestore();
      }
      process.stdout.write(printed);
      expect(exitCode).toBe(0);

      // Every purchaser (the rfm view: a profile with a counted order) has BG/NBD predictions, and no figure is NaN.
      const [counts] = await pipeline.sql<Record<string, string>>(
        `SELECT toString((SELECT count() FROM rfm)) AS purchasers,
                toString((SELECT count() FROM predictions WHERE p_alive IS NOT NULL)) AS predicted,
                toString((SELECT count() FROM rfm WHERE profile_id NOT IN (SELECT profile_id FROM predictions WHERE p_alive IS NOT NULL))) AS missing,
                toString((SELECT countIf(isNaN(p_alive) OR isNaN(expected_purchases_30d) OR isNaN(expected_purchases_90d)
                                         OR isNaN(expected_order_value) OR isNaN(clv_365d) OR isNaN(ifNull(purchase_propensity_30d, 0)))
                          FROM predictions)) AS nan`,
      );
      expect(Number(counts!.purchasers)).toBeGreaterThan(100);
      expect(counts).toEqual({ purchasers: counts!.purchasers, predicted: counts!.purchasers, missing: '0', nan: '0' });
      expect(printed).toContain(`Predictions (BG/NBD + Gamma-Gamma; `);
      expect(printed).toMatch(/Likely to buy again[^\n]*\n {4}\S+/);
      expect(printed).toMatch(/Backtest \(\d+-day holdout\): [\d.]+ repeat purchase days predicted, \d+ happened/);

      // The profile API shows the view's row of a purchaser.
      const [top] = await pipeline.sql<{
        type: string;
        value: string;
        profile_id: string;
        p_alive: number;
        version: string;
      }>(
        `SELECT i.identifier_type AS type, i.identifier_value AS value, p.profile_id AS profile_id, p.p_alive AS p_alive,
                toString(p.model_version) AS version
         FROM predictions AS p INNER JOIN identities AS i ON i.profile_id = p.profile_id
         WHERE p.p_alive IS NOT NULL AND i.identifier_type = 'user_id'
         ORDER BY p.expected_purchases_90d DESC, p.profile_id LIMIT 1`,
      );
      const profile = await pipeline.api<{
        profileId: string;
        predictions: { pAlive: number; modelVersion: number } | null;
      }>('GET', `/v1/profiles/${top!.type}/${encodeURIComponent(top!.value)}`);
      expect(profile.profileId).toBe(top!.profile_id);
      expect(profile.predictions).toMatchObject({ pAlive: top!.p_alive, modelVersion: Number(top!.version) });

      // Its latest ProfileUpdate carries the same figures (published after the run changed them).
      await waitFor(
        () => {
          const latest = downstream.records.filter((r) => r.key === top!.profile_id).at(-1);
          const predictions = latest?.value.predictions as { pAlive: number; modelVersion: number } | null | undefined;
          expect(predictions).toMatchObject({ pAlive: top!.p_alive, modelVersion: Number(top!.version) });
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      await downstream.stop();

      // A segment rule on a prediction: its members are exactly the profiles SQL gives.
      const segment = await pipeline.api<{ id: string }>('POST', '/v1/segments', {
        name: 'likely churned',
        rule: { prediction: 'p_alive', op: 'lt', value: 0.5 },
      });
      const expected = (
        await pipeline.sql<{ profile_id: string }>(
          'SELECT profile_id FROM predictions WHERE p_alive < 0.5 ORDER BY profile_id',
        )
      ).map((r) => r.profile_id);
      expect(expected.length).toBeGreaterThan(0);
      await waitFor(
        async () => {
          const page = await pipeline.api<{ members: { profileId: string }[] }>(
            'GET',
            `/v1/segments/${segment.id}/members?limit=10000`,
          );
          expect(page.members.map((m) => m.profileId)).toEqual(expected);
        },
        { timeoutMs: 90_000, intervalMs: 1_000 },
      );
    }));
});
