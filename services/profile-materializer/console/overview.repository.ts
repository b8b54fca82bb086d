import type { Registry } from 'prom-client';
import type { ClickHouse } from '../../common/clickhouse/client-factory';
import { dateTime64Text } from '../../common/clickhouse/datetime64';
import type { StageLag } from './pipeline-lag';
import { isoTime } from './read-model';

export interface Overview {
  readonly at: string;
  readonly windowMinutes: number;
  /** Events received per minute of the window, by channel and source (deduplicated by messageId). */
  readonly eventsPerMinute: readonly { minute: string; channel: string; source: string; events: number }[];
  readonly lag: readonly StageLag[];
  /** Seconds the oldest profile handed to segment evaluation has waited (0: none waits). */
  readonly segmentEvaluationLagSeconds: number | null;
  readonly deadLetters: {
    readonly total: number;
    readonly byCode: readonly { code: string; reason: string; count: number; last: string }[];
  };
  readonly profiles: number;
  readonly purchasers: number;
  readonly revenueCents: string;
  readonly currency: string;
  readonly rfmSnapshot: { readonly computedAt: string; readonly purchasers: number } | null;
  readonly lastSweep: { readonly at: string | null; readonly seconds: number } | null;
}

/**
 * The Overview page in one answer. Every figure is read, none kept: ClickHouse for events,
 * profiles, purchasers, dead letters and the RFM snapshot; Kafka for lag; the service's own
 * metrics registry for segment evaluation (what /metrics shows).
 */
export async function readOverview(
  ch: ClickHouse,
  deps: { readonly lag: () => Promise<StageLag[]>; readonly metrics: Registry; readonly now: number },
  windowMinutes = 60,
): Promise<Overview> {
  const since = dateTime64Text(deps.now - windowMinutes * 60_000);
  const deadSince = dateTime64Text(deps.now - 24 * 3_600_000);
  const [lag, rates, counts, purchasers, snapshot, dead, freshness, sweepSeconds, sweepAt] = await Promise.all([
    deps.lag(),
    // A retried event is received twice: each messageId counts once, at its latest receipt (the
    // version the events view keeps).
    ch.query<{ minute: string; channel: string; source: string; events: string }>(
      `SELECT toString(toStartOfMinute(received)) AS minute, channel, source, count() AS events
       FROM (
         SELECT message_id, max(received_at) AS received, argMax(channel, received_at) AS channel,
                argMax(source, received_at) AS source
         FROM events_store WHERE received_at >= {since:DateTime64(3, 'UTC')}
         GROUP BY message_id)
       GROUP BY minute, channel, source ORDER BY minute, channel, source`,
      { since },
    ),
    ch.query<{ profiles: string }>('SELECT count() AS profiles FROM profiles'),
    ch.query<{ purchasers: string; cents: string; currency: string }>(
      `SELECT count() AS purchasers, toString(sum(monetary_cents)) AS cents,
              (SELECT argMax(reporting_currency, version) FROM rfm_settings_store) AS currency
       FROM rfm`,
    ),
    ch.query<{ computed_at: string; purchasers: string }>(
      'SELECT toString(computed_at) AS computed_at, purchasers FROM rfm_snapshots_store FINAL ORDER BY version DESC LIMIT 1',
    ),
    ch.query<{ code: string; reason: string; count: string; last: string }>(
      `SELECT code, any(reason) AS reason, count() AS count, toString(max(failed_at)) AS last
       FROM dead_letters WHERE failed_at >= {since:DateTime64(3, 'UTC')}
       GROUP BY code ORDER BY count() DESC, code`,
      { since: deadSince },
    ),
    gaugeValue(deps.metrics, 'kumiki_segment_freshness_lag_seconds'),
    gaugeValue(deps.metrics, 'kumiki_segment_last_sweep_seconds'),
    gaugeValue(deps.metrics, 'kumiki_segment_last_sweep_timestamp_seconds'),
  ]);
  const byCode = dead.map((d) => ({ code: d.code, reason: d.reason, count: Number(d.count), last: isoTime(d.last) }));
  const [money] = purchasers;
  return {
    at: new Date(deps.now).toISOString(),
    windowMinutes,
    eventsPerMinute: rates.map((r) => ({
      minute: isoTime(r.minute),
      channel: r.channel,
      source: r.source,
      events: Number(r.events),
    })),
    lag,
    segmentEvaluationLagSeconds: freshness,
    deadLetters: { total: byCode.reduce((sum, d) => sum + d.count, 0), byCode },
    profiles: Number(counts[0]?.profiles ?? 0),
    purchasers: Number(money?.purchasers ?? 0),
    revenueCents: money?.cents ?? '0',
    currency: money?.currency || 'USD',
    rfmSnapshot: snapshot[0]
      ? { computedAt: isoTime(snapshot[0].computed_at), purchasers: Number(snapshot[0].purchasers) }
      : null,
    lastSweep:
      sweepAt !== null && sweepAt > 0
        ? { at: new Date(sweepAt * 1000).toISOString(), seconds: sweepSeconds ?? 0 }
        : null,
  };
}

/** A gauge of this process's registry (as /metrics would show it); null when it does not exist. */
async function gaugeValue(metrics: Registry, name: string): Promise<number | null> {
  const metric = metrics.getSingleMetric(name);
  if (!metric) return null;
  const { values } = await metric.get();
  return values[0]?.value ?? null;
}
