import {
  activatorEnv,
  createActivatorTopics,
  profileUpdate,
  segmentChange,
  startActivator,
  startReceiver,
  UpstreamProducer,
} from '../../support/activator';
import { testKafka } from '../../support/kafka';
import { withServiceLogsOnFailure } from '../../support/service-process';
import { waitFor } from '../../support/wait-for';

/**
 * The activator killed (SIGKILL) in the middle of a stream and started again: every change is
 * delivered at least once, and a receiver deduplicating by webhook-id sees each exactly once,
 * with nothing skipped — what the commits at the low-water mark of finished changes promise.
 */
const kafka = testKafka();

test('SIGKILL mid-stream: every change delivered, exactly once after webhook-id dedup, none skipped', () =>
  withServiceLogsOnFailure(async () => {
    const names = await createActivatorTopics(kafka);
    const upstream = await UpstreamProducer.connect(kafka, names);
    const byId = new Map<string, { count: number; profileId: string; round: string }>();
    const receiver = await startReceiver((request) => {
      const id = String(request.headers['webhook-id']);
      const payload = JSON.parse(request.body) as { data: { profileId: string; segment: { name: string } } };
      const seen = byId.get(id);
      if (seen) seen.count += 1;
      else byId.set(id, { count: 1, profileId: payload.data.profileId, round: payload.data.segment.name });
      return { status: 200 };
    });
    const env = activatorEnv(names);
    let activator = await startActivator(env);
    try {
      const created = await activator.api<{ id: string }>('POST', '/v1/destinations', {
        name: 'crash',
        type: 'webhook',
        url: receiver.url,
        events: ['segment.entered', 'segment.exited'],
        purposes: ['marketing'],
        rateLimit: 400,
      });
      expect(created.status).toBe(201);

      const people = Array.from({ length: 200 }, (_, i) => `p-crash-${i}`);
      await upstream.profiles(people.map((p) => profileUpdate(p)));
      const rounds = 15;
      const changes = [];
      for (let round = 0; round < rounds; round++)
        for (const p of people)
          changes.push(
            segmentChange(p, { change: round % 2 === 0 ? 'entered' : 'exited', segmentName: `round ${round}` }),
          );
      await upstream.changes(changes);
      const total = changes.length;

      // Killed once a third has arrived: deliveries in flight, commits behind them.
      await waitFor(() => expect(byId.size).toBeGreaterThan(total / 3), { timeoutMs: 60_000, intervalMs: 20 });
      activator.process.child.kill('SIGKILL');
      const exit = await activator.process.exit;
      expect(exit.signal).toBe('SIGKILL');
      const beforeRestart = byId.size;
      expect(beforeRestart).toBeLessThan(total);

      activator = await startActivator(env);
      await waitFor(() => expect(byId.size).toBe(total), { timeoutMs: 120_000 });

      // Each change once after dedup, and every one of them: each profile got every round.
      const roundsOf = new Map<string, Set<string>>();
      for (const { profileId, round } of byId.values()) {
        let set = roundsOf.get(profileId);
        if (!set) roundsOf.set(profileId, (set = new Set()));
        set.add(round);
      }
      expect(roundsOf.size).toBe(people.length);
      for (const [profileId, set] of roundsOf) expect([profileId, set.size]).toEqual([profileId, rounds]);
      const deliveries = [...byId.values()].reduce((n, v) => n + v.count, 0);
      // At least once: the requests received cover every change; the surplus are redeliveries after the kill.
      expect(deliveries).toBeGreaterThanOrEqual(total);
      expect(receiver.requests.length).toBe(deliveries);
    } finally {
      await activator.stop();
      await upstream.close();
      await receiver.close();
    }
  }));
