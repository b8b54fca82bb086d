import type { ProfileUpdate, SegmentChange } from '../../../schemas';
import { testKafka } from '../../support/kafka';
import { startPipeline, type RunningPipeline } from '../../support/pipeline';
import { metricValue, sendEvents, testCodec, profileOfUser } from '../../support/privacy';
import { withServiceLogsOnFailure } from '../../support/service-process';
import { uniqueName } from '../../support/stack-env';
import { readAll } from '../../support/stitcher';
import { waitFor } from '../../support/wait-for';

/**
 * Consent end to end, with `analytics` required for profiling and a `marketing` segment:
 * - a revoke moves the person out of the marketing segment in the incremental evaluation its
 *   event triggers (the sweep is hourly here, so nothing else could), and shows in the
 *   ProfileUpdate and the consent history;
 * - a person who never stated marketing consent is never in the segment's changes, not even
 *   after a full sweep (no consent recorded = not granted);
 * - a person who has not granted analytics is kept out of profiles, counted only in the
 *   anonymous aggregate, until they grant it.
 */
jest.setTimeout(600_000);

const run = uniqueName('consent');
let pipeline: RunningPipeline;

beforeAll(async () => {
  pipeline = await startPipeline({ env: { SEGMENT_SWEEP_INTERVAL_MS: '3600000', PROFILING_PURPOSES: 'analytics' } });
});

afterAll(async () => {
  await pipeline?.stop();
});

const grant = (purposes: Record<string, boolean>) => ({ consent: { categoryPreferences: purposes } });

const profileOf = (user: string): Promise<string> => profileOfUser(pipeline, user);

async function changesOf(profileId: string): Promise<SegmentChange[]> {
  const codec = testCodec();
  return Promise.all(
    (await readAll(testKafka(), pipeline.topics.segments))
      .filter((m) => m.key?.toString() === profileId && m.value)
      .map(async (m) => (await codec.decode<SegmentChange>(m.value!)).value),
  );
}

it('revocation exits at once, no consent is never a member, and profiling waits for its purpose', () =>
  withServiceLogsOnFailure(async () => {
    const marketing = await pipeline.api<{ id: string }>('POST', '/v1/segments', {
      name: `newsletter ${run}`,
      rule: { trait: 'name', op: 'exists' },
      purpose: 'marketing',
    });
    const mia = `mia-${run}`;
    const noah = `noah-${run}`;
    const liam = `liam-${run}`;
    await sendEvents(pipeline, [
      {
        type: 'identify',
        messageId: `${run}-m1`,
        userId: mia,
        traits: { name: 'Mia' },
        context: grant({ analytics: true, marketing: true }),
      },
      {
        type: 'identify',
        messageId: `${run}-n1`,
        userId: noah,
        traits: { name: 'Noah' },
        context: grant({ analytics: true }),
      },
      { type: 'identify', messageId: `${run}-l1`, userId: liam, traits: { name: 'Liam' } },
    ]);
    const miaProfile = await profileOf(mia);
    const noahProfile = await profileOf(noah);
    await waitFor(async () => expect((await changesOf(miaProfile)).map((c) => c.change)).toEqual(['entered']), {
      timeoutMs: 60_000,
      intervalMs: 500,
    });

    // Mia revokes marketing (analytics stays granted): she exits in the incremental run her event triggers.
    await sendEvents(pipeline, [
      {
        type: 'track',
        messageId: `${run}-m2`,
        userId: mia,
        event: 'Preferences Updated',
        context: grant({ marketing: false }),
      },
    ]);
    const exit = await waitFor(
      async () => {
        const changes = await changesOf(miaProfile);
        expect(changes.map((c) => c.change)).toEqual(['entered', 'exited']);
        return changes[1]!;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(exit).toMatchObject({ segmentId: marketing.id, evaluation: 'incremental', reason: null });
    const history = await pipeline.sql<{ granted: boolean; message_id: string }>(
      "SELECT granted, message_id FROM consent_history WHERE profile_id = {p:String} AND purpose = 'marketing' ORDER BY timestamp, message_id",
      { p: miaProfile },
    );
    expect(history).toEqual([
      { granted: true, message_id: `${run}-m1` },
      { granted: false, message_id: `${run}-m2` },
    ]);
    const codec = testCodec();
    await waitFor(
      async () => {
        const updates = (await readAll(testKafka(), pipeline.topics.updates)).filter(
          (m) => m.key?.toString() === miaProfile && m.value,
        );
        const latest = (await codec.decode<ProfileUpdate>(updates.at(-1)!.value!)).value;
        expect(latest.consent).toEqual({ analytics: true, marketing: false });
        expect(latest.segments).toEqual([]);
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    // Noah never stated marketing consent: never a member, not even after a full sweep.
    await pipeline.restart('profile-materializer');
    await waitFor(
      async () =>
        expect(await metricValue(pipeline.materializer.url, 'kumiki_segment_last_sweep_seconds')).toBeGreaterThan(0),
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(await changesOf(noahProfile)).toEqual([]);

    // Liam has not granted analytics: his event is in no profile, only in the anonymous count.
    const [counted] = await pipeline.sql<{ events: string }>(
      "SELECT toString(sum(events)) AS events FROM unprofiled_activity WHERE type = 'identify'",
    );
    expect(Number(counted?.events)).toBe(1);
    expect(await pipeline.sql('SELECT * FROM events WHERE message_id = {m:String}', { m: `${run}-l1` })).toEqual([]);
    // Once he grants it, his events from then on are his profile (the earlier one stays out).
    await sendEvents(pipeline, [
      { type: 'track', messageId: `${run}-l2`, userId: liam, event: 'Opted In', context: grant({ analytics: true }) },
    ]);
    const liamProfile = await profileOf(liam);
    await waitFor(
      async () => {
        const events = await pipeline.sql<{ message_id: string }>(
          'SELECT message_id FROM events WHERE profile_id = {p:String}',
          {
            p: liamProfile,
          },
        );
        expect(events).toEqual([{ message_id: `${run}-l2` }]);
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  }));
