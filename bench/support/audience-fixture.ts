import Fastify from 'fastify';
import type { Logger } from 'pino';
import { type AccessDecision, FailedAuthThrottle, KeyCache } from '../../services/common/access';
import type { ClickHouse } from '../../services/common/clickhouse/client-factory';
import { readApiRoutes } from '../../services/profile-materializer/read-api.routes';
import { createSegment } from '../../services/profile-materializer/segments/segment.repository';
import { defaultSegmentLimits } from '../../services/profile-materializer/segments/validate-segment-sql';

/**
 * A segment with many members straight in ClickHouse's store tables (no pipeline), and the read
 * API serving them, for export tests and the export benchmark. Member n has profile id
 * `p<n padded>`, email `user<n>@example.com` and phone `+49151<n padded to 8>`; every tenth has
 * no advertising consent.
 */
export async function seedAudience(
  ch: ClickHouse,
  options: { members: number; name?: string; profiles?: boolean },
): Promise<{ segmentId: string; members: number }> {
  const segment = await createSegment(
    ch,
    { name: options.name ?? 'Audience', sql: 'SELECT profile_id FROM profiles' },
    { limits: defaultSegmentLimits },
  );
  const at = "toDateTime64('2026-01-01 00:00:00', 3, 'UTC')";
  // A second segment of the same people leaves their profiles as they are.
  if (options.profiles !== false)
    await ch.command(
      `INSERT INTO profiles_store (profile_id, traits, first_seen, last_seen, consent, channels, identifiers, version)
     SELECT concat('p', leftPad(toString(number), 8, '0')), '{}', ${at}, ${at},
            map('advertising', number % 10 != 0, 'marketing', true), ['web'],
            [concat('email:user', toString(number), '@example.com'), concat('phone:+49151', leftPad(toString(number), 8, '0'))],
            1
     FROM numbers({members:UInt64})`,
      { members: options.members },
    );
  await ch.command(
    `INSERT INTO segment_members_store (segment_id, profile_id, is_member, since, changed_at, version)
     SELECT {segment:String}, concat('p', leftPad(toString(number), 8, '0')), 1, ${at}, ${at}, 1
     FROM numbers({members:UInt64})`,
    { segment: segment.id, members: options.members },
  );
  return { segmentId: segment.id, members: options.members };
}

/** The read API of a materializer over `ch`, in this process, on `port` (keys: `keys`, else the admin token only). */
export async function serveReadApi(
  ch: ClickHouse,
  options: {
    port: number;
    adminToken: string;
    logger: Logger;
    keys?: KeyCache;
    onDecision?: (decision: AccessDecision) => Promise<void>;
  },
): Promise<{ url: string; close(): Promise<void> }> {
  const app = Fastify();
  await app.register(
    readApiRoutes({
      clickhouse: () => ch,
      access: {
        keys: options.keys ?? new KeyCache(),
        adminToken: options.adminToken,
        throttle: new FailedAuthThrottle({ maxFailures: 1_000, windowMs: 60_000, blockMs: 60_000 }),
        ...(options.onDecision ? { onDecision: options.onDecision } : {}),
      },
      logger: options.logger,
      limits: { maxExecutionSeconds: 30, maxResultRows: 10_000, maxMemoryBytes: 2_000_000_000 },
    }),
  );
  await app.listen({ host: '127.0.0.1', port: options.port });
  return { url: `http://127.0.0.1:${options.port}`, close: () => app.close() };
}
