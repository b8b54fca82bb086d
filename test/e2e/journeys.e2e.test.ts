import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { journeysCommand } from '../../services/cli/commands/journeys.command';
import { loadCliConfig } from '../../services/cli/config';
import { activatorEnv, createActivatorTopics, startActivator } from '../support/activator';
import { testKafka } from '../support/kafka';
import { startPipeline } from '../support/pipeline';
import { withServiceLogsOnFailure } from '../support/service-process';

/**
 * `kumiki demo --journeys` against the whole pipeline and the activator: events through the
 * collector, stitched, materialized, evaluated into the three journey segments, delivered as
 * signed webhooks to the demo's mail tool. The command's exit code is 0 only when every person
 * with marketing consent got their journey's mail and nobody without it got one.
 */
test('the journeys demo mails everyone with consent and nobody without', () =>
  withServiceLogsOnFailure(async () => {
    const pipeline = await startPipeline();
    const kafka = testKafka();
    const own = await createActivatorTopics(kafka);
    const activator = await startActivator(
      activatorEnv(
        { ...own, changes: pipeline.topics.segments, updates: pipeline.topics.updates },
        { KUMIKI_READ_API_URL: pipeline.materializer.url, KUMIKI_ADMIN_TOKEN: pipeline.adminToken },
      ),
    );
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-journeys-'));
    try {
      fs.writeFileSync(
        path.join(home, 'credentials.json'),
        JSON.stringify({ writeKey: pipeline.collector.writeKey, adminToken: pipeline.adminToken }),
        { mode: 0o600 },
      );
      const config = loadCliConfig({
        KUMIKI_HOME: home,
        KUMIKI_COLLECTOR_PORT: new URL(pipeline.collector.url).port,
        KUMIKI_READ_API_URL: pipeline.materializer.url,
        KUMIKI_ACTIVATOR_URL: activator.url,
      });
      expect(await journeysCommand(config, { receiverPort: 0, waitSeconds: 120 })).toBe(0);
      // The demo's destination is gone once it ends.
      const { body } = await activator.api<{ destinations: unknown[] }>('GET', '/v1/destinations');
      expect(body.destinations).toEqual([]);
    } finally {
      await activator.stop();
      await pipeline.stop();
      fs.rmSync(home, { recursive: true, force: true });
    }
  }));
