import { deleteSegment } from '../../../services/profile-materializer/segments/segment.repository';
import { waitFor } from '../../support/wait-for';
import { DAY, HOUR, T0, harness, members, runningMaterializer, touched } from './segment-evaluation-harness';

/**
 * Segment evaluation on real Kafka (transactions, read_committed), the real registry and chDB,
 * with a controlled clock. Profile state is written straight into the store tables (what the
 * materializer writes), the evaluator is driven as the materializer drives it — evaluateTouched
 * after a batch, sweep on the timer — and the changes topic is read back through the registry
 * to its end, so the assertions are the exact sequences of SegmentChange records.
 */
jest.setTimeout(180_000);

describe('segment evaluation', () => {
  it('every rule kind enters and exits at the right time: incremental after events, the sweep as time passes', async () => {
    const h = await harness();
    try {
      const vip = await h.segment('vip', { rule: { trait: 'plan', op: 'eq', value: 'pro' } });
      const freeSql = await h.segment('free-sql', {
        sql: "SELECT profile_id FROM profiles WHERE JSONExtractString(traits, 'plan') = 'free'",
      });
      await h.segment('twice-in-14-days', {
        rule: { performed: { event: 'Order Completed' }, within: { days: 14 }, count: { op: 'gte', value: 2 } },
      });
      await h.segment('cart-abandoned', {
        rule: {
          performed: { event: 'Product Added' },
          notFollowedBy: { event: 'Order Completed' },
          within: { days: 1 },
          lookback: { days: 7 },
        },
      });
      await h.segment('repurchase-day-4', {
        rule: { lastPerformed: { event: 'Order Completed' }, op: 'eq', value: { days: 4 } },
      });
      const webAndStore = await h.segment('web-and-store', { rule: { channels: ['web', 'store'], match: 'all' } });
      const birthday = await h.segment('birthday-month', {
        rule: { trait: 'birthday', part: 'month', op: 'eq', value: 'now' },
      });
      const rfmRepeat = await h.segment('rfm-repeat', { rule: { rfm: 'frequency', op: 'gte', value: 2 } });
      await h.segment('vip-browsers', { rule: { and: [{ inSegment: vip }, { performed: { type: 'page' } }] } });
      const marketable = await h.segment('marketable', { rule: { consent: 'marketing' } });
      const evaluation = await h.start();

      // T0: ann (pro, birthday in December, marketing consent) views a page and adds to cart; bob (free) buys on the web.
      await h.profile('ann', { plan: 'pro', birthday: '1990-12-05' }, { marketing: true });
      await h.event('ann', T0 - HOUR, { type: 'page', name: 'Home' });
      await h.event('ann', T0, { event: 'Product Added' });
      await h.profile('bob', { plan: 'free' });
      await h.event('bob', T0, { event: 'Order Completed', order_id: 'o1', revenue: 10, currency: 'USD' });
      await touched(evaluation, 'ann', 'bob');
      // T0 + 2 h: bob buys again, in the store.
      h.clock = T0 + 2 * HOUR;
      await h.event('bob', h.clock, {
        event: 'Order Completed',
        order_id: 'o2',
        revenue: 20,
        currency: 'USD',
        channel: 'store',
      });
      await touched(evaluation, 'bob');
      // Nothing time-relative has happened yet.
      expect((await evaluation.sweep()).changes).toBe(0);
      // T0 + 1 d + 1 h: ann's cart has waited a day.
      h.clock = T0 + DAY + HOUR;
      await evaluation.sweep();
      // T0 + 4 d + 3 h: bob's last purchase was 4 days ago (day 4); T0 + 5 d + 3 h: day 5.
      h.clock = T0 + 4 * DAY + 3 * HOUR;
      await evaluation.sweep();
      h.clock = T0 + 5 * DAY + 3 * HOUR;
      await evaluation.sweep();
      // 1 December: ann's birthday month begins; her cart is past the 7-day lookback.
      h.clock = Date.UTC(2026, 11, 1, 13, 0, 0);
      await evaluation.sweep();
      // T0 + 15 d: bob's two orders are no longer within 14 days (RFM counts a year: he stays).
      h.clock = T0 + 15 * DAY;
      await evaluation.sweep();
      // ann downgrades: she leaves vip (and vip-browsers, which reads it) and enters free-sql.
      await h.profile('ann', { plan: 'free', birthday: '1990-12-05' }, { marketing: true });
      await touched(evaluation, 'ann');
      // A sweep with nothing new publishes nothing.
      expect((await evaluation.sweep()).changes).toBe(0);

      expect(await h.changes()).toEqual([
        'birthday-month ann entered scheduled',
        'cart-abandoned ann entered scheduled',
        'cart-abandoned ann exited scheduled',
        'free-sql ann entered incremental',
        'marketable ann entered incremental',
        'vip ann entered incremental',
        'vip ann exited incremental',
        'vip-browsers ann entered incremental',
        'vip-browsers ann exited incremental',
        'free-sql bob entered incremental',
        'repurchase-day-4 bob entered scheduled',
        'repurchase-day-4 bob exited scheduled',
        'rfm-repeat bob entered incremental',
        'twice-in-14-days bob entered incremental',
        'twice-in-14-days bob exited scheduled',
        'web-and-store bob entered incremental',
      ]);
      expect(await members(h.ch, vip)).toEqual([]);
      const current = await evaluation.currentSegments(['ann', 'bob', 'nobody']);
      expect(current.get('ann')).toEqual([freeSql, birthday, marketable].sort());
      expect(current.get('bob')).toEqual([freeSql, webAndStore, rfmRepeat].sort());
      expect(current.get('nobody')).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('a segment with a purpose never has members without that consent, and revoking it makes the profile exit', async () => {
    const h = await harness();
    try {
      const pro = await h.segment('pro-marketing', {
        rule: { trait: 'plan', op: 'eq', value: 'pro' },
        purpose: 'marketing',
      });
      const proSql = await h.segment('pro-marketing-sql', {
        sql: "SELECT profile_id FROM profiles WHERE JSONExtractString(traits, 'plan') = 'pro'",
        purpose: 'marketing',
      });
      const evaluation = await h.start();
      await h.profile('cy', { plan: 'pro' }, { marketing: true });
      await h.profile('dan', { plan: 'pro' }); // no consent recorded
      await h.profile('eve', { plan: 'pro' }, { marketing: false });
      await touched(evaluation, 'cy', 'dan', 'eve');
      await evaluation.sweep();
      expect(await members(h.ch, pro)).toEqual(['cy']);
      expect(await members(h.ch, proSql)).toEqual(['cy']);

      h.clock = T0 + HOUR;
      await h.profile('cy', { plan: 'pro' }, { marketing: false });
      await touched(evaluation, 'cy');
      expect(await members(h.ch, pro)).toEqual([]);
      expect(await h.changes()).toEqual([
        'pro-marketing cy entered incremental',
        'pro-marketing cy exited incremental',
        'pro-marketing-sql cy entered incremental',
        'pro-marketing-sql cy exited incremental',
      ]);
    } finally {
      await h.close();
    }
  });

  it('a merge moves membership to the survivor: the absorbed id exits, the survivor never exits and re-enters', async () => {
    const h = await harness();
    try {
      const vip = await h.segment('vip', { rule: { trait: 'plan', op: 'eq', value: 'pro' } });
      const buyers = await h.segment('buyers', { rule: { performed: { event: 'Order Completed' } } });
      const republished: string[][] = [];
      const evaluation = await h.start({ onMembershipChanged: async (ids) => void republished.push([...ids]) });
      // sam (survivor) and abe are both vip; only abe bought.
      await h.profile('sam', { plan: 'pro' });
      await h.profile('abe', { plan: 'pro' });
      await h.event('abe', T0, { event: 'Order Completed', order_id: 'o1', revenue: 5, currency: 'USD' });
      await touched(evaluation, 'sam', 'abe');
      // abe is merged into sam: the materializer writes the alias and sam's merged snapshot, and touches sam.
      h.clock = T0 + HOUR;
      await h.merge('abe', 'sam');
      await h.profile('sam', { plan: 'pro' });
      await touched(evaluation, 'sam');
      await evaluation.sweep(); // and a sweep finds nothing more
      expect(await members(h.ch, vip)).toEqual(['sam']);
      expect(await members(h.ch, buyers)).toEqual(['sam']);
      expect(await h.changes()).toEqual([
        'buyers abe entered incremental',
        'buyers abe exited incremental',
        'vip abe entered incremental',
        'vip abe exited incremental',
        'buyers sam entered incremental',
        'vip sam entered incremental',
      ]);
      // Profiles whose membership changed are handed on for a fresh ProfileUpdate, with their current segments.
      expect(republished).toEqual([
        ['abe', 'sam'],
        ['abe', 'sam'],
      ]);
      expect((await evaluation.currentSegments(['sam'])).get('sam')).toEqual([buyers, vip].sort());
    } finally {
      await h.close();
    }
  });

  it('a deleted segment: its members exit at the next sweep, and nothing more follows', async () => {
    const h = await harness();
    try {
      const vip = await h.segment('vip', { rule: { trait: 'plan', op: 'eq', value: 'pro' } });
      await h.profile('fay', { plan: 'pro' });
      await h.profile('gus', { plan: 'pro' });
      const evaluation = await h.start();
      await evaluation.sweep();
      h.clock = T0 + HOUR;
      await deleteSegment(h.ch, vip, { now: () => h.clock });
      expect(await evaluation.sweep()).toEqual({ segments: 1, changes: 2 });
      expect(await evaluation.sweep()).toEqual({ segments: 0, changes: 0 });
      await touched(evaluation, 'fay');
      expect(await h.changes()).toEqual([
        'vip fay entered scheduled',
        'vip fay exited scheduled',
        'vip gus entered scheduled',
        'vip gus exited scheduled',
      ]);
    } finally {
      await h.close();
    }
  });

  describe('a restart in the middle of an evaluation publishes every change exactly once', () => {
    const crash = (): { hook: () => Promise<void>; release: () => void; reached: Promise<void> } => {
      let reach: () => void = () => undefined;
      const reached = new Promise<void>((resolve) => (reach = resolve));
      let fail: (error: Error) => void = () => undefined;
      let calls = 0;
      return {
        reached,
        release: () => fail(new Error('the process died here')),
        // The second publish (second page of the sweep) freezes at the hook until released, as a dead process would.
        hook: () => {
          calls += 1;
          if (calls !== 2) return Promise.resolve();
          reach();
          return new Promise<void>((_, reject) => (fail = reject));
        },
      };
    };

    it.each([
      ['after the changes were sent, before the transaction committed', 'afterSend'],
      ['after the transaction committed, before segment_members was written', 'afterCommit'],
    ] as const)('%s', async (_name, moment) => {
      const h = await harness();
      try {
        const vip = await h.segment('vip', { rule: { trait: 'plan', op: 'eq', value: 'pro' } });
        const people = ['p1', 'p2', 'p3', 'p4', 'p5'];
        for (const id of people) await h.profile(id, { plan: 'pro' });
        const fault = crash();
        const first = await h.start({ faults: { [moment]: fault.hook } });
        const sweep = first.sweep().catch(() => undefined);
        await fault.reached; // page 1 (p1, p2) is published and applied; page 2 (p3, p4) is frozen

        // A new instance with the same transactional id: it fences the first, settles its
        // transaction, recovers, and evaluates.
        const second = await h.start();
        const stopping = first.stop();
        fault.release();
        await stopping;
        await sweep;
        await second.sweep();
        expect(await members(h.ch, vip)).toEqual(people);

        // And the exit that follows is not missed.
        h.clock = T0 + HOUR;
        await h.profile('p3', { plan: 'free' });
        await touched(second, 'p3');
        expect(await h.changes()).toEqual([
          ...people.flatMap((id) => [
            `vip ${id} entered scheduled`,
            ...(id === 'p3' ? ['vip p3 exited incremental'] : []),
          ]),
        ]);
        expect(await members(h.ch, vip)).toEqual(['p1', 'p2', 'p4', 'p5']);
      } finally {
        await h.close();
      }
    });
  });

  it('through the running materializer: a qualifying event enters within seconds, a consent revoke exits', async () => {
    const h = await harness();
    const m = await runningMaterializer(h, 'segeval', { SEGMENT_SWEEP_INTERVAL_MS: '3600000' });
    try {
      const segmentId = await h.segment('pro-marketing', {
        rule: { trait: 'plan', op: 'eq', value: 'pro' },
        purpose: 'marketing',
      });
      await m.service.start();
      const send = (consent: Record<string, boolean>): Promise<void> =>
        m.send('ann', { type: 'identify', traits: JSON.stringify({ plan: 'pro' }), consent });
      const waitForChanges = (expected: string[]): Promise<void> =>
        waitFor(async () => expect(await h.changes()).toEqual(expected), { timeoutMs: 30_000, intervalMs: 200 });

      await send({ marketing: true });
      await waitForChanges(['pro-marketing prof-ann entered incremental']);
      const metrics = await m.metrics();
      expect(metrics).toMatch(
        /^kumiki_segment_changes_total\{[^}]*change="entered"[^}]*evaluation="incremental"[^}]*\} 1$/m,
      );
      expect(metrics).toMatch(new RegExp(`^kumiki_segment_members\\{[^}]*segment_id="${segmentId}"[^}]*\\} 1$`, 'm'));
      expect(metrics).toMatch(/^kumiki_segment_freshness_lag_seconds\{[^}]*\} 0$/m);
      expect(metrics).toMatch(/^kumiki_segment_evaluation_seconds_count\{[^}]*evaluation="incremental"[^}]*\} [1-9]/m);
      await send({ marketing: false });
      await waitForChanges(['pro-marketing prof-ann entered incremental', 'pro-marketing prof-ann exited incremental']);
    } finally {
      await m.close();
      await h.close();
    }
  });

  it('segments over RFM move after the snapshot, for profiles whose scores other purchases moved, with the sweep off', async () => {
    const h = await harness();
    const m = await runningMaterializer(h, 'segrfm', { SEGMENT_SWEEP_INTERVAL_MS: '0' });
    try {
      // m_score = 1 + floor(5 × purchasers with less money / purchasers): ann (150) alone scores
      // 1; after bob (50), 3; after cy (10), 4. Only ann ever qualifies, and only once cy bought:
      // an event of someone else, found by the snapshot that follows it.
      await h.segment('sql-top-spenders', { sql: 'SELECT profile_id FROM rfm WHERE m_score >= 4' });
      await h.segment('rule-top-spenders', { rule: { rfm: 'm_score', op: 'gte', value: 4 } });
      await m.service.start();
      for (const [person, revenue] of [
        ['ann', 150],
        ['bob', 50],
        ['cy', 10],
      ] as const) {
        await m.send(person, {
          event: 'Order Completed',
          properties: JSON.stringify({ order_id: `o-${person}`, revenue, currency: 'USD' }),
        });
        // One purchase per snapshot, so ann's own order is long evaluated when cy's arrives.
        await waitFor(
          async () =>
            expect(
              await h.ch.query('SELECT m_score FROM rfm WHERE profile_id = {id:String}', { id: `prof-${person}` }),
            ).toHaveLength(1),
          { timeoutMs: 30_000, intervalMs: 100 },
        );
      }
      await waitFor(
        async () =>
          expect(await h.changes()).toEqual([
            'rule-top-spenders prof-ann entered incremental',
            'sql-top-spenders prof-ann entered incremental',
          ]),
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      expect(await m.metrics()).toMatch(/^kumiki_segment_derived_profiles_total\{[^}]*source="rfm"[^}]*\} [3-9]$/m);
    } finally {
      await m.close();
      await h.close();
    }
  });
});
