import { withoutPersonalText } from '../../common/access/personal-text';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { dateTime64Text } from '../../common/clickhouse/datetime64';
import { decodeDeadLetterBytes, type DecodedBytes } from './dead-letter-bytes';
import { decodeCursor, encodeCursor, isoTime } from './read-model';

/** Windows the Dead letters page offers, each with the bucket its chart counts by. */
export const deadLetterWindows = {
  '1h': { ms: 3_600_000, bucketSeconds: 60 },
  '24h': { ms: 86_400_000, bucketSeconds: 3_600 },
  '7d': { ms: 7 * 86_400_000, bucketSeconds: 6 * 3_600 },
  '30d': { ms: 30 * 86_400_000, bucketSeconds: 86_400 },
} as const;
export type DeadLetterWindow = keyof typeof deadLetterWindows;

export interface DeadLetterSummary {
  readonly at: string;
  readonly window: DeadLetterWindow;
  readonly bucketSeconds: number;
  readonly total: number;
  readonly byCode: readonly { code: string; reason: string; stage: string; service: string; count: number }[];
  readonly overTime: readonly { at: string; code: string; count: number }[];
}

/**
 * Counts in the window by code (with one reason as an example) and per bucket of time. Reasons
 * may quote the input: without `personalData` (pii:read) they come through withoutPersonalText.
 */
export async function readDeadLetterSummary(
  ch: ClickHouse,
  window: DeadLetterWindow,
  now: number,
  personalData: boolean,
): Promise<DeadLetterSummary> {
  const { ms, bucketSeconds } = deadLetterWindows[window];
  const since = dateTime64Text(now - ms);
  const [byCode, overTime] = await Promise.all([
    ch.query<{ code: string; reason: string; stage: string; service: string; count: string }>(
      `SELECT code, any(reason) AS reason, any(stage) AS stage, any(service) AS service, count() AS count
       FROM dead_letters WHERE failed_at >= {since:DateTime64(3, 'UTC')}
       GROUP BY code ORDER BY count() DESC, code`,
      { since },
    ),
    ch.query<{ bucket: string; code: string; count: string }>(
      `SELECT toString(toStartOfInterval(failed_at, INTERVAL {bucket:UInt32} SECOND)) AS bucket, code, count() AS count
       FROM dead_letters WHERE failed_at >= {since:DateTime64(3, 'UTC')}
       GROUP BY bucket, code ORDER BY bucket, code`,
      { since, bucket: bucketSeconds },
    ),
  ]);
  const codes = byCode.map((c) => ({
    ...c,
    reason: personalData ? c.reason : withoutPersonalText(c.reason),
    count: Number(c.count),
  }));
  return {
    at: new Date(now).toISOString(),
    window,
    bucketSeconds,
    total: codes.reduce((sum, c) => sum + c.count, 0),
    byCode: codes,
    overTime: overTime.map((o) => ({ at: isoTime(o.bucket), code: o.code, count: Number(o.count) })),
  };
}

export interface DeadLetterSample {
  readonly failedAt: string;
  readonly service: string;
  readonly stage: string;
  readonly code: string;
  readonly reason: string;
  readonly error: string;
  readonly messageId: string;
  readonly original: {
    readonly topic: string | null;
    readonly partition: number | null;
    readonly offset: number | null;
  };
  /** The original bytes decoded for reading; null when the key may not see personal data. */
  readonly bytes: DecodedBytes | null;
}

/** Dead letters newest first, optionally of one code, a page at a time. */
export async function readDeadLetterSamples(
  ch: ClickHouse,
  options: {
    readonly code: string;
    readonly before?: string;
    readonly limit: number;
    /** The original bytes and the texts as they are (pii:read); without, no bytes and texts through withoutPersonalText. */
    readonly withBytes: boolean;
    readonly decodeAvro: (bytes: Buffer) => Promise<unknown>;
  },
): Promise<{ samples: DeadLetterSample[]; next: string | null }> {
  const cursor = decodeCursor(options.before, 4);
  const rows = await ch.query<{
    failed_text: string;
    ts: string;
    service: string;
    stage: string;
    code: string;
    reason: string;
    error: string;
    message_id: string;
    original_topic: string;
    original_partition: number;
    original_offset_text: string;
    original_value: string;
    source_topic: string;
    source_partition: number;
    offset_text: string;
  }>(
    `SELECT toString(failed_at) AS failed_text, toString(toUnixTimestamp64Milli(failed_at)) AS ts, service, stage, code,
            reason, error, message_id, original_topic, original_partition, toString(original_offset) AS original_offset_text,
            ${options.withBytes ? 'original_value' : "'' AS original_value"},
            source_topic, source_partition, toString(source_offset) AS offset_text
     FROM dead_letters_store FINAL
     WHERE ({code:String} = '' OR code = {code:String})
       AND (toUnixTimestamp64Milli(failed_at), source_topic, source_partition, source_offset)
           < ({ts:Int64}, {topic:String}, {partition:UInt32}, {offset:UInt64})
     ORDER BY failed_at DESC, source_topic DESC, source_partition DESC, source_offset DESC
     LIMIT {limit:UInt32}`,
    {
      code: options.code,
      ts: cursor ? Number(cursor[0]) : Number.MAX_SAFE_INTEGER,
      topic: cursor ? String(cursor[1]) : '',
      partition: cursor ? Number(cursor[2]) : 0,
      offset: cursor ? String(cursor[3]) : '0',
      limit: options.limit,
    },
  );
  const samples = await Promise.all(
    rows.map(async (r) => ({
      failedAt: isoTime(r.failed_text),
      service: r.service,
      stage: r.stage,
      code: r.code,
      reason: options.withBytes ? r.reason : withoutPersonalText(r.reason),
      error: options.withBytes ? r.error : withoutPersonalText(r.error),
      messageId: r.message_id,
      original: {
        topic: r.original_topic || null,
        partition: r.original_partition >= 0 ? Number(r.original_partition) : null,
        offset: Number(r.original_offset_text) >= 0 ? Number(r.original_offset_text) : null,
      },
      bytes: options.withBytes
        ? await decodeDeadLetterBytes(Buffer.from(r.original_value, 'base64'), options.decodeAvro)
        : null,
    })),
  );
  const last = rows.at(-1);
  return {
    samples,
    next:
      rows.length === options.limit && last
        ? encodeCursor([Number(last.ts), last.source_topic, Number(last.source_partition), last.offset_text])
        : null,
  };
}
