import { dependencyOrder } from '../../../../../services/profile-materializer/segments/evaluation/membership.repository';
import { memberRow } from '../../../../../services/profile-materializer/segments/evaluation/segment-change.log';
import { toChange } from '../../../../../services/profile-materializer/segments/evaluation/segment-change.log';
import { createBody } from '../../../../../services/cli/commands/segment.command';

describe('segment evaluation, pure parts', () => {
  it('a published change always leaves the same segment_members row: version = offset + 1', () => {
    const change = toChange(
      { id: 'seg_1', name: 'vip' },
      { profileId: 'ann', entered: true },
      Date.UTC(2026, 10, 23, 12),
      'incremental',
    );
    expect(change).toEqual({
      segmentId: 'seg_1',
      segmentName: 'vip',
      profileId: 'ann',
      change: 'entered',
      at: Date.UTC(2026, 10, 23, 12),
      evaluation: 'incremental',
      reason: null,
    });
    const row = memberRow({ change, partition: 3, offset: 41n });
    expect(row).toEqual({
      segment_id: 'seg_1',
      profile_id: 'ann',
      is_member: 1,
      since: '2026-11-23 12:00:00.000',
      changed_at: '2026-11-23 12:00:00.000',
      version: '42',
      source_partition: 3,
      source_offset: '41',
    });
    expect(memberRow({ change: { ...change, change: 'exited' }, partition: 3, offset: 50n })).toMatchObject({
      is_member: 0,
      version: '51',
    });
    expect(memberRow({ change, partition: 3, offset: 41n })).toEqual(row);
  });

  it('orders segments after the segments their rules read, otherwise as given', () => {
    const order = dependencyOrder([
      { id: 'c', references: ['b'] },
      { id: 'a', references: [] },
      { id: 'b', references: ['a', 'gone'] },
      { id: 'd', references: [] },
    ]);
    expect(order.map((s) => s.id)).toEqual(['a', 'b', 'c', 'd']);
    // A cycle cannot be saved, but would not loop.
    expect(
      dependencyOrder([
        { id: 'x', references: ['y'] },
        { id: 'y', references: ['x'] },
      ]).map((s) => s.id),
    ).toEqual(['y', 'x']);
  });

  it('kumiki segment create builds the API body from exactly one definition', () => {
    expect(createBody('Pro', { rule: '{"trait":"plan","op":"eq","value":"pro"}', purpose: 'marketing' })).toEqual({
      body: { name: 'Pro', rule: { trait: 'plan', op: 'eq', value: 'pro' }, purpose: 'marketing' },
    });
    expect(createBody('Q', { sql: 'SELECT profile_id FROM profiles' })).toEqual({
      body: { name: 'Q', sql: 'SELECT profile_id FROM profiles' },
    });
    expect(createBody('F', { ruleFile: 'r.json' }, () => '{"consent":"marketing"}')).toEqual({
      body: { name: 'F', rule: { consent: 'marketing' } },
    });
    expect(createBody('N', {})).toEqual({ problem: 'give exactly one of --sql, --rule, --rule-file' });
    expect(createBody('N', { sql: 'SELECT 1', rule: '{}' })).toEqual({
      problem: 'give exactly one of --sql, --rule, --rule-file',
    });
    expect(createBody('N', { rule: '{oops' })).toMatchObject({
      problem: expect.stringMatching(/^the rule is not JSON/),
    });
  });
});
