import type { ClickHouse } from '../../../services/common/clickhouse/client-factory';
import { ProfileRepository } from '../../../services/profile-materializer/profile.repository';
import { dateTime64Text } from '../../../services/common/clickhouse/datetime64';
import { embeddedHome, freshDatabase } from './materializer-test-env';

/**
 * The indexes by profile (migration 0014) only name candidates: what was true once and is no
 * longer (a survivor absorbed in turn, an identifier re-linked or erased) must not show.
 */
describe('alias groups and identifiers read through the indexes by profile', () => {
  const home = embeddedHome('profile-indexes');
  let ch: ClickHouse;
  let repository: ProfileRepository;
  const at = dateTime64Text(Date.now());

  const alias = (absorbed: string, survivor: string, version: number) => ({
    absorbed_profile_id: absorbed,
    surviving_profile_id: survivor,
    merged_at: at,
    message_id: `m-${absorbed}-${version}`,
    version,
  });
  const identity = (type: string, value: string, profileId: string, version: number, deleted = 0) => ({
    identifier_type: type,
    identifier_value: value,
    profile_id: profileId,
    linked_at: at,
    message_id: `m-${value}-${version}`,
    deleted,
    version,
  });
  const event = (messageId: string, profileId: string) => ({
    message_id: messageId,
    profile_id: profileId,
    type: 'track',
    event: 'Page Viewed',
    timestamp: at,
    received_at: at,
    channel: 'web',
    version: 1,
  });

  beforeAll(async () => {
    ch = await freshDatabase(home);
    repository = new ProfileRepository(ch);
    // x merged into s; then s merged into u, flattened (x → u with a higher version); y merged into s
    // and later withdrawn (y → y). The index by survivor still lists x and y under s.
    await ch.insert('profile_aliases_store', [alias('x', 's', 1), alias('y', 's', 2)]);
    await ch.insert('profile_aliases_store', [alias('s', 'u', 3), alias('x', 'u', 4), alias('y', 'y', 5)]);
    // e1 belonged to s, then moved to v; e2 belonged to x and was erased; e3 is x's; e4 is u's.
    await ch.insert('identities_store', [
      identity('email', 'e1@example.com', 's', 1),
      identity('email', 'e2@example.com', 'x', 1),
      identity('email', 'e3@example.com', 'x', 1),
      identity('user_id', 'e4', 'u', 1),
    ]);
    await ch.insert('identities_store', [
      identity('email', 'e1@example.com', 'v', 2),
      identity('email', 'e2@example.com', 'x', 2, 1),
    ]);
    await ch.insert('events_store', [event('m1', 'x'), event('m2', 'u'), event('m3', 's'), event('m4', 'v')]);
  });

  afterAll(async () => {
    await ch.close();
  });

  it('loadAliases: the current rows whose absorbed or surviving id is asked for', async () => {
    expect(Object.fromEntries(await repository.loadAliases(['s']))).toEqual({ s: 'u' });
    expect(Object.fromEntries(await repository.loadAliases(['u']))).toEqual({ s: 'u', x: 'u' });
    expect(Object.fromEntries(await repository.loadAliases(['y']))).toEqual({});
  });

  it('loadAliasGroups: from any member, its survivor and every current member', async () => {
    for (const id of ['s', 'x', 'u'])
      expect(Object.fromEntries(await repository.loadAliasGroups([id]))).toEqual({ s: 'u', x: 'u' });
    expect(Object.fromEntries(await repository.loadAliasGroups(['v', 'y']))).toEqual({});
  });

  it('a snapshot holds the identifiers its members own now, none they held before', async () => {
    const [u, v] = await repository.readSnapshots(['u', 'v'], await repository.loadAliasGroups(['u', 'v']));
    expect(u?.identifiers).toEqual([
      { type: 'email', value: 'e3@example.com' },
      { type: 'user_id', value: 'e4' },
    ]);
    expect(v?.identifiers).toEqual([{ type: 'email', value: 'e1@example.com' }]);
  });
});
