import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { Link } from 'wouter';
import { defineMessages, useFormat, useMessages } from '../app/i18n';
import { definePage } from '../app/page';
import { useApi, useSession } from '../app/session';
import { seriesColor } from '../ui/colors';
import { QueryState } from '../ui/feedback';

export interface SegmentSummary {
  id: string;
  name: string;
  kind: 'sql' | 'rule';
  purpose: string | null;
  createdAt: string;
  members: number;
}

const messages = defineMessages({
  en: {
    title: 'Segments',
    heading: 'Segments',
    create: 'New segment',
    none: 'No segments yet.',
    name: 'Name',
    kind: 'Kind',
    kind_rule: 'rule',
    kind_sql: 'SQL',
    purpose: 'Consent purpose',
    members: 'Members',
    created: 'Created',
    chart: 'Show size over time',
    sizeOf: 'Size of “{name}” over the last 30 days',
    noHistory: 'No enters or exits recorded in this period.',
  },
  ja: {
    title: 'セグメント',
    heading: 'セグメント',
    create: '新しいセグメント',
    none: 'セグメントはまだありません。',
    name: '名前',
    kind: '種類',
    kind_rule: 'ルール',
    kind_sql: 'SQL',
    purpose: '同意の目的',
    members: 'メンバー数',
    created: '作成日時',
    chart: 'サイズの推移を表示',
    sizeOf: '「{name}」のサイズ推移（直近 30 日）',
    noHistory: 'この期間の参加・離脱の記録はありません。',
  },
});

function SegmentsPage() {
  const t = useMessages(messages);
  const f = useFormat();
  const api = useApi();
  const { can } = useSession();
  const [chosen, setChosen] = useState<string | null>(null);
  const query = useQuery({
    queryKey: ['segments'],
    queryFn: () => api.get<{ segments: SegmentSummary[] }>('/v1/console/segments'),
    refetchInterval: 10_000,
  });
  return (
    <section aria-labelledby="segments-heading">
      <div className="page-head">
        <h1 id="segments-heading">{t('heading')}</h1>
        {can('segment:write') ? (
          <Link href="/segments/new" className="button">
            {t('create')}
          </Link>
        ) : null}
      </div>
      <QueryState query={query}>
        {({ segments }) => {
          if (segments.length === 0) return <p>{t('none')}</p>;
          const selected = segments.find((s) => s.id === chosen) ?? segments[0]!;
          return (
            <div className="grid-2">
              <section className="card">
                <table data-testid="segment-list">
                  <thead>
                    <tr>
                      <th scope="col">{t('name')}</th>
                      <th scope="col">{t('kind')}</th>
                      <th scope="col">{t('purpose')}</th>
                      <th scope="col" className="num">
                        {t('members')}
                      </th>
                      <th scope="col">{t('created')}</th>
                      <th scope="col">
                        <span className="visually-hidden">{t('chart')}</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {segments.map((s) => (
                      <tr key={s.id} aria-selected={s.id === selected.id} data-segment-id={s.id}>
                        <td>
                          <Link href={`/segments/${encodeURIComponent(s.id)}`}>{s.name}</Link>
                        </td>
                        <td>{t(s.kind === 'rule' ? 'kind_rule' : 'kind_sql')}</td>
                        <td>{s.purpose ?? '—'}</td>
                        <td className="num" data-testid="segment-members">
                          {f.number(s.members)}
                        </td>
                        <td>{f.dateTime(s.createdAt)}</td>
                        <td>
                          <button
                            type="button"
                            className="link"
                            aria-pressed={s.id === selected.id}
                            onClick={() => setChosen(s.id)}
                          >
                            {t('chart')}
                          </button>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </section>
              <SizeChart segment={selected} />
            </div>
          );
        }}
      </QueryState>
    </section>
  );
}

export function SizeChart({ segment }: { readonly segment: { id: string; name: string; members: number } }) {
  const t = useMessages(messages);
  const f = useFormat();
  const api = useApi();
  const query = useQuery({
    queryKey: ['segment-sizes', segment.id],
    queryFn: () =>
      api.get<{ points: { at: string; members: number }[]; bucketSeconds: number }>(
        `/v1/console/segments/${encodeURIComponent(segment.id)}/sizes`,
        { days: 30 },
      ),
  });
  return (
    <section className="card" aria-labelledby="size-heading">
      <h2 id="size-heading">{t('sizeOf', { name: segment.name })}</h2>
      <QueryState query={query}>
        {({ points }) =>
          points.length <= 2 && points.every((p) => p.members === 0) ? (
            <p className="muted" data-testid="segment-size-chart">
              {t('noHistory')}
            </p>
          ) : (
            <div
              className="chart"
              role="img"
              aria-label={t('sizeOf', { name: segment.name })}
              data-testid="segment-size-chart"
            >
              <ResponsiveContainer width="100%" height={240}>
                <LineChart data={points.map((p) => ({ ...p, t: Date.parse(p.at) }))}>
                  <CartesianGrid strokeDasharray="3 3" vertical={false} />
                  <XAxis
                    dataKey="t"
                    type="number"
                    scale="time"
                    domain={['dataMin', 'dataMax']}
                    tickFormatter={(v: number) => f.date(new Date(v).toISOString())}
                    minTickGap={32}
                  />
                  <YAxis allowDecimals={false} width={56} tickFormatter={(v: number) => f.number(v)} />
                  <Tooltip
                    labelFormatter={(v) => f.dateTime(new Date(Number(v)).toISOString())}
                    formatter={(v) => f.number(Number(v))}
                  />
                  <Line
                    type="stepAfter"
                    dataKey="members"
                    name={t('members')}
                    stroke={seriesColor(0)}
                    dot={false}
                    isAnimationActive={false}
                  />
                </LineChart>
              </ResponsiveContainer>
            </div>
          )
        }
      </QueryState>
    </section>
  );
}

export default definePage({ path: '/segments', nav: 30, scope: 'segment:read', messages, component: SegmentsPage });
