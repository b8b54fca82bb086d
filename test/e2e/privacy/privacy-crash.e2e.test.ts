import type { SegmentChange } from '../../../schemas';
import { PrivacyKey } from '../../../services/common/privacy/privacy-key';
import { verifyReport } from '../../../services/common/privacy/privacy-report';
import { testKafka } from '../../support/kafka';
import { startPipeline, type RunningPipeline } from '../../support/pipeline';
import { fileRequest, latestByKey, requestDone, rowsNaming, sendEvents, testCodec } from '../../support/privacy';
import { testPrivacyKey } from '../../support/privacy-key';
import { withServiceLogsOnFailure } from '../../support/service-process';
import { uniqueName } from '../../support/stack-env';
import { readAll } from '../../support/stitcher';
import { waitFor } from '../../support/wait-for';

/**
 * An erase accepted with 202 completes although every service is SIGKILLed on the way: the
 * stitcher before the request is accepted and again after it resolved it, the collector right
 * after, and the materializer twice in the middle of the erase (after its segment exits were
 * published, and after its deletions), killed by its own fault injection at a known step and
 * started again. The request resumes from its last checkpoint, completes with a report that
 * verifies, and its segment exits are published once.
 */
jest.setTimeout(600_000);

const run = uniqueName('crash-erase');
const eve = { user: `eve-${run}`, email: `eve.${run}@example.com`, anon: `anon-${run}` };
let pipeline: RunningPipeline;

beforeAll(async () => {
  pipeline = await startPipeline();
});

afterAll(async () => {
  await pipeline?.stop();
});

it('completes an erase through SIGKILLs of every service, and the report verifies', () =>
  withServiceLogsOnFailure(async () => {
    const segment = await pipeline.api<{ id: string }>('POST', '/v1/segments', {
      name: `buyers ${run}`,
      rule: { performed: { event: 'Order Completed' } },
    });
    await sendEvents(pipeline, [
      {
        type: 'identify',
        messageId: `${run}-1`,
        userId: eve.user,
        anonymousId: eve.anon,
        traits: { email: eve.email },
      },
      {
        type: 'track',
        messageId: `${run}-2`,
        userId: eve.user,
        event: 'Order Completed',
        properties: { order_id: `${run}-o`, revenue: 10 },
      },
    ]);
    const profileId = await waitFor(
      async () => {
        const [row] = await pipeline.sql<{ profile_id: string }>(
          'SELECT profile_id FROM segment_members WHERE segment_id = {s:String}',
          { s: segment.id },
        );
        if (!row) throw new Error('not a member yet');
        return row.profile_id;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );

    // The stitcher is down when the request is accepted (it cannot be resolved yet), the
    // collector goes down after it, and the materializer is replaced by one that kills itself
    // once the erase has published its segment exits.
    await pipeline.stopService('identity-stitcher', { kill: true });
    const requestId = await fileRequest(pipeline, 'erase', { type: 'email', value: eve.email });
    await pipeline.restart('collector', { kill: true });
    const dies = async (step: string, restartStitcher: boolean): Promise<void> => {
      await pipeline.restart('profile-materializer', {
        kill: true,
        env: { PRIVACY_FAULT_KILL_AFTER_STEP: step },
        waitReady: false,
      });
      if (restartStitcher) await pipeline.restart('identity-stitcher', { kill: true });
      // Bounded: a materializer that never reaches the step fails the test instead of hanging it.
      await waitFor(
        () => {
          if (pipeline.materializer.child.signalCode === null) throw new Error(`still running, not past ${step}`);
        },
        { timeoutMs: 180_000, intervalMs: 200 },
      );
      expect(pipeline.materializer.child.signalCode).toBe('SIGKILL');
      expect(pipeline.materializer.output()).toContain(`fault injection: SIGKILL after privacy request step ${step}`);
    };
    await dies('exit-segments', true);
    // The stitcher killed again after it resolved the request: started again, it does not carry it out twice.
    await pipeline.restart('identity-stitcher', { kill: true });
    await dies('delete-rows', false);
    await pipeline.restart('profile-materializer', { kill: true });

    const done = await requestDone(pipeline, requestId);
    expect(done.status).toBe('completed');
    expect(verifyReport(done.report!, PrivacyKey.fromHex(testPrivacyKey)).valid).toBe(true);
    expect(done.report!.verified).toBe(true);
    // The rows counted before the crash are the report's, although they were deleted by then.
    expect(done.report!.clickhouse.find((s) => s.store === 'events_store')).toMatchObject({ rows: 2, after: 0 });
    const values = [profileId, eve.user, eve.email, eve.anon];
    expect(await rowsNaming(pipeline, values, values)).toEqual({});
    const kafka = testKafka();
    expect((await latestByKey(kafka, pipeline.topics.updates)).get(profileId)).toBeNull();
    expect((await latestByKey(kafka, pipeline.topics.graph)).get(`email:${eve.email}`)).toBeNull();
    const codec = testCodec();
    const changes = await Promise.all(
      (await readAll(kafka, pipeline.topics.segments))
        .filter((m) => m.key?.toString() === profileId && m.value)
        .map(async (m) => (await codec.decode<SegmentChange>(m.value!)).value),
    );
    expect(changes.map((c) => [c.change, c.reason])).toEqual([
      ['entered', null],
      ['exited', 'erased'],
    ]);
  }));
