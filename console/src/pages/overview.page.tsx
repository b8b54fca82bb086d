import { useQuery } from '@tanstack/react-query';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { Link } from 'wouter';
import { defineMessages, useFormat, useMessages } from '../app/i18n';
import { definePage } from '../app/page';
import { useApi } from '../app/session';
import { QueryState } from '../ui/feedback';
import { seriesColor } from '../ui/colors';
import { bucketsOf, pivot } from '../ui/time-buckets';

interface StageLag {
  stage: string;
  groupId: string;
  records: number | null;
  topics: { topic: string; records: number }[];
  error?: string;
}

interface Overview {
  at: string;
  windowMinutes: number;
  eventsPerMinute: { minute: string; channel: string; source: string; events: number }[];
  lag: StageLag[];
  segmentEvaluationLagSeconds: number | null;
  deadLetters: { total: number; byCode: { code: string; reason: string; count: number; last: string }[] };
  profiles: number;
  purchasers: number;
  revenueCents: string;
  currency: string;
  rfmSnapshot: { computedAt: string; purchasers: number } | null;
  lastSweep: { at: string | null; seconds: number } | null;
}

const messages = defineMessages({
  en: {
    title: 'Overview',
    heading: 'Pipeline overview',
    live: 'Refreshed every 5 seconds',
    profiles: 'Profiles',
    purchasers: 'Purchasers',
    revenue: 'net revenue {amount}',
    deadLetters: 'Dead letters (24 h)',
    lastSweep: 'Last segment sweep',
    sweepTook: 'took {seconds} s',
    rfmSnapshot: 'RFM snapshot',
    snapshotPurchasers: '{count} purchasers',
    never: 'not yet',
    eventsPerMinute: 'Events received per minute, last {minutes} minutes, by channel',
    bySource: 'By source',
    source: 'Source',
    channel: 'Channel',
    events: 'Events',
    minute: 'Minute',
    lag: 'Pipeline lag',
    stage: 'Stage',
    group: 'Consumer group',
    behind: 'Records behind',
    lagUnknown: 'unknown (Kafka did not answer)',
    segmentEvaluation: 'segment evaluation',
    waiting: '{seconds} s waiting',
    deadLettersByReason: 'Dead letters by reason (24 h)',
    code: 'Code',
    reason: 'Example reason',
    count: 'Count',
    last: 'Last',
    allDeadLetters: 'All dead letters',
    noEvents: 'No events received in this window.',
    noDeadLetters: 'No dead letters in the last 24 hours.',
  },
  ja: {
    title: '概要',
    heading: 'パイプラインの概要',
    live: '5 秒ごとに更新',
    profiles: 'プロフィール数',
    purchasers: '購入者数',
    revenue: '純売上 {amount}',
    deadLetters: 'デッドレター（24 時間）',
    lastSweep: '最後のセグメント全体評価',
    sweepTook: '所要 {seconds} 秒',
    rfmSnapshot: 'RFM スナップショット',
    snapshotPurchasers: '購入者 {count} 人',
    never: 'まだありません',
    eventsPerMinute: '1 分あたりの受信イベント数（直近 {minutes} 分、チャネル別）',
    bySource: 'ソース別',
    source: 'ソース',
    channel: 'チャネル',
    events: 'イベント数',
    minute: '時刻',
    lag: 'パイプラインの遅延',
    stage: 'ステージ',
    group: 'コンシューマーグループ',
    behind: '未処理レコード数',
    lagUnknown: '不明（Kafka が応答しません）',
    segmentEvaluation: 'セグメント評価',
    waiting: '{seconds} 秒待機中',
    deadLettersByReason: '理由別デッドレター（24 時間）',
    code: 'コード',
    reason: '理由の例',
    count: '件数',
    last: '最終',
    allDeadLetters: 'すべてのデッドレター',
    noEvents: 'この期間に受信したイベントはありません。',
    noDeadLetters: '直近 24 時間のデッドレターはありません。',
  },
});

function OverviewPage() {
  const t = useMessages(messages);
  const api = useApi();
  const query = useQuery({
    queryKey: ['overview'],
    queryFn: () => api.get<Overview>('/v1/console/overview'),
    refetchInterval: 5_000,
  });
  return (
    <section aria-labelledby="overview-heading">
      <div className="page-head">
        <h1 id="overview-heading">{t('heading')}</h1>
        <p className="muted">{t('live')}</p>
      </div>
      <QueryState query={query}>{(data) => <OverviewBody data={data} />}</QueryState>
    </section>
  );
}

function OverviewBody({ data }: { readonly data: Overview }) {
  const t = useMessages(messages);
  const f = useFormat();
  const channels = [...new Set(data.eventsPerMinute.map((e) => e.channel || '—'))].sort();
  const minutes = pivot(
    bucketsOf(data.at, data.windowMinutes * 60_000, 60_000),
    data.eventsPerMinute.map((e) => ({ at: e.minute, series: e.channel || '—', count: e.events })),
    channels,
  );
  const bySource = new Map<string, { source: string; channel: string; events: number }>();
  for (const e of data.eventsPerMinute) {
    const key = `${e.source}\u0000${e.channel}`;
    const row = bySource.get(key) ?? { source: e.source || '—', channel: e.channel || '—', events: 0 };
    row.events += e.events;
    bySource.set(key, row);
  }
  return (
    <>
      <p className="muted" aria-live="polite">
        {f.dateTime(data.at)}
      </p>
      <div className="stats">
        <Stat label={t('profiles')} value={f.number(data.profiles)} testId="stat-profiles" />
        <Stat
          label={t('purchasers')}
          value={f.number(data.purchasers)}
          detail={t('revenue', { amount: f.money(data.revenueCents, data.currency) })}
          testId="stat-purchasers"
        />
        <Stat label={t('deadLetters')} value={f.number(data.deadLetters.total)} testId="stat-dead-letters" />
        <Stat
          label={t('lastSweep')}
          value={data.lastSweep?.at ? f.time(data.lastSweep.at) : t('never')}
          detail={data.lastSweep ? t('sweepTook', { seconds: f.decimal(data.lastSweep.seconds) }) : undefined}
        />
        <Stat
          label={t('rfmSnapshot')}
          value={data.rfmSnapshot ? f.time(data.rfmSnapshot.computedAt) : t('never')}
          detail={
            data.rfmSnapshot ? t('snapshotPurchasers', { count: f.number(data.rfmSnapshot.purchasers) }) : undefined
          }
        />
      </div>

      <div className="grid-2">
        <section className="card" aria-labelledby="rate-heading">
          <h2 id="rate-heading">{t('eventsPerMinute', { minutes: data.windowMinutes })}</h2>
          {data.eventsPerMinute.length === 0 ? (
            <p className="muted">{t('noEvents')}</p>
          ) : (
            <div className="chart" role="img" aria-label={t('eventsPerMinute', { minutes: data.windowMinutes })}>
              <ResponsiveContainer width="100%" height={240}>
                <BarChart data={minutes}>
                  <CartesianGrid strokeDasharray="3 3" vertical={false} />
                  <XAxis dataKey="at" tickFormatter={(v: string) => f.time(v)} minTickGap={24} />
                  <YAxis allowDecimals={false} tickFormatter={(v: number) => f.number(v)} width={56} />
                  <Tooltip labelFormatter={(v) => f.dateTime(String(v))} formatter={(v) => f.number(Number(v))} />
                  <Legend />
                  {channels.map((c, i) => (
                    <Bar key={c} dataKey={c} stackId="events" fill={seriesColor(i)} isAnimationActive={false} />
                  ))}
                </BarChart>
              </ResponsiveContainer>
            </div>
          )}
          <h3>{t('bySource')}</h3>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('source')}</th>
                <th scope="col">{t('channel')}</th>
                <th scope="col" className="num">
                  {t('events')}
                </th>
              </tr>
            </thead>
            <tbody>
              {[...bySource.values()]
                .sort((a, b) => b.events - a.events)
                .map((row) => (
                  <tr key={`${row.source}/${row.channel}`}>
                    <td>{row.source}</td>
                    <td>{row.channel}</td>
                    <td className="num">{f.number(row.events)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </section>

        <div className="stack">
          <section className="card" aria-labelledby="lag-heading">
            <h2 id="lag-heading">{t('lag')}</h2>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('stage')}</th>
                  <th scope="col">{t('group')}</th>
                  <th scope="col" className="num">
                    {t('behind')}
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.lag.map((stage) => (
                  <tr key={stage.stage} data-testid={`lag-${stage.stage}`}>
                    <td>{stage.stage}</td>
                    <td>
                      <code>{stage.groupId}</code>
                    </td>
                    <td className="num">{stage.records === null ? t('lagUnknown') : f.number(stage.records)}</td>
                  </tr>
                ))}
                <tr>
                  <td>{t('segmentEvaluation')}</td>
                  <td>—</td>
                  <td className="num">
                    {data.segmentEvaluationLagSeconds === null
                      ? '—'
                      : t('waiting', { seconds: f.decimal(data.segmentEvaluationLagSeconds) })}
                  </td>
                </tr>
              </tbody>
            </table>
          </section>

          <section className="card" aria-labelledby="dlq-heading">
            <h2 id="dlq-heading">{t('deadLettersByReason')}</h2>
            {data.deadLetters.byCode.length === 0 ? (
              <p className="muted">{t('noDeadLetters')}</p>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('code')}</th>
                    <th scope="col">{t('reason')}</th>
                    <th scope="col" className="num">
                      {t('count')}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.deadLetters.byCode.map((d) => (
                    <tr key={d.code}>
                      <td>
                        <code>{d.code}</code>
                      </td>
                      <td className="clip" title={d.reason}>
                        {d.reason}
                      </td>
                      <td className="num">{f.number(d.count)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <p>
              <Link href="/dead-letters">{t('allDeadLetters')}</Link>
            </p>
          </section>
        </div>
      </div>
    </>
  );
}

function Stat(props: { label: string; value: string; detail?: string | undefined; testId?: string }) {
  return (
    <div className="stat" data-testid={props.testId}>
      <span className="stat-label">{props.label}</span>
      <span className="stat-value">{props.value}</span>
      {props.detail ? <span className="stat-detail">{props.detail}</span> : null}
    </div>
  );
}

export default definePage({ path: '/', nav: 10, scope: 'profile:read', messages, component: OverviewPage });
