import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { Link } from 'wouter';
import { common } from '../app/common-messages';
import { defineMessages, useFormat, useLocale, useMessages } from '../app/i18n';
import { definePage } from '../app/page';
import { useApi } from '../app/session';
import { heat, inkOn, seriesColor } from '../ui/colors';
import { rfmLabelName } from '../ui/rfm-label-names';
import { ErrorMessage, LoadMore, QueryState } from '../ui/feedback';

interface RfmGrid {
  computedAt: string | null;
  previousComputedAt: string | null;
  currency: string;
  purchasers: number;
  cells: { r: number; f: number; profiles: number; revenueCents: string }[];
  labels: { label: string; profiles: number; revenueCents: string }[];
  movement: { from: string; to: string; profiles: number }[];
}

interface RfmMember {
  profileId: string;
  email: string | null;
  recencyDays: number;
  frequency: number;
  monetaryCents: string;
  label: string;
}

const messages = defineMessages({
  en: {
    title: 'RFM',
    heading: 'RFM: recency × frequency',
    snapshot: 'Snapshot of {time}: {count} purchasers',
    noSnapshot: 'No RFM snapshot yet: it is taken a few seconds after the first orders arrive.',
    colourBy: 'Colour by',
    byProfiles: 'profiles',
    byRevenue: 'revenue',
    recency: 'Recency score (R)',
    frequency: 'Frequency score (F)',
    cell: 'R {r}, F {f}: {profiles} profiles, {revenue}',
    emptyCell: 'R {r}, F {f}: no profiles',
    cellHeading: 'Profiles with R {r} and F {f}',
    cellHint: 'Select a cell to list its profiles.',
    profile: 'Profile',
    email: 'Email',
    recencyDays: 'Days since last purchase',
    orders: 'Orders',
    monetary: 'Net revenue',
    label: 'Label',
    labels: 'Labels',
    profiles: 'Profiles',
    revenue: 'Revenue',
    movement: 'Movement since the previous snapshot ({time})',
    noMovement: 'No earlier snapshot to compare with yet.',
    from: 'From',
    to: 'To',
    newPurchaser: '(new purchaser)',
    gone: '(no longer a purchaser)',
    unchanged: 'Kept their label: {count}',
  },
  ja: {
    title: 'RFM',
    heading: 'RFM: 最新購買 × 購買頻度',
    snapshot: '{time} のスナップショット: 購入者 {count} 人',
    noSnapshot: 'RFM スナップショットはまだありません。最初の注文の数秒後に作成されます。',
    colourBy: '色の基準',
    byProfiles: 'プロフィール数',
    byRevenue: '売上',
    recency: '最新購買スコア（R）',
    frequency: '購買頻度スコア（F）',
    cell: 'R {r}、F {f}: {profiles} 人、{revenue}',
    emptyCell: 'R {r}、F {f}: 該当なし',
    cellHeading: 'R {r}・F {f} のプロフィール',
    cellHint: 'セルを選択すると、そのプロフィールを一覧表示します。',
    profile: 'プロフィール',
    email: 'メール',
    recencyDays: '最終購入からの日数',
    orders: '注文数',
    monetary: '純売上',
    label: 'ラベル',
    labels: 'ラベル',
    profiles: 'プロフィール数',
    revenue: '売上',
    movement: '前回のスナップショット（{time}）からの移動',
    noMovement: '比較できる以前のスナップショットはまだありません。',
    from: '移動元',
    to: '移動先',
    newPurchaser: '（新規購入者）',
    gone: '（購入者ではなくなった）',
    unchanged: 'ラベルが変わらなかった人: {count}',
  },
});

function RfmPage() {
  const t = useMessages(messages);
  const api = useApi();
  const query = useQuery({ queryKey: ['rfm'], queryFn: () => api.get<RfmGrid>('/v1/console/rfm') });
  return (
    <section aria-labelledby="rfm-heading">
      <h1 id="rfm-heading">{t('heading')}</h1>
      <QueryState query={query}>{(grid) => <RfmBody grid={grid} />}</QueryState>
    </section>
  );
}

function RfmBody({ grid }: { readonly grid: RfmGrid }) {
  const t = useMessages(messages);
  const c = useMessages(common);
  const f = useFormat();
  const { locale } = useLocale();
  const name = (label: string) => rfmLabelName(label, locale);
  const [by, setBy] = useState<'profiles' | 'revenue'>('profiles');
  const [selected, setSelected] = useState<{ r: number; f: number } | null>(null);
  if (!grid.computedAt) return <p>{t('noSnapshot')}</p>;
  const cellOf = (r: number, fs: number) => grid.cells.find((c) => c.r === r && c.f === fs);
  const value = (c: RfmGrid['cells'][number] | undefined) =>
    c ? (by === 'profiles' ? c.profiles : Number(c.revenueCents)) : 0;
  const max = Math.max(1, ...grid.cells.map(value));
  const moved = grid.movement.filter((m) => m.from !== m.to);
  const kept = grid.movement.filter((m) => m.from === m.to).reduce((sum, m) => sum + m.profiles, 0);
  return (
    <>
      <p className="muted">{t('snapshot', { time: f.dateTime(grid.computedAt), count: f.number(grid.purchasers) })}</p>
      <div className="grid-2">
        <section className="card" aria-labelledby="heatmap-heading">
          <div className="card-head">
            <h2 id="heatmap-heading">{t('heading')}</h2>
            <fieldset className="toggle">
              <legend>{t('colourBy')}</legend>
              {(['profiles', 'revenue'] as const).map((option) => (
                <label key={option}>
                  <input type="radio" name="rfm-colour" checked={by === option} onChange={() => setBy(option)} />{' '}
                  {t(option === 'profiles' ? 'byProfiles' : 'byRevenue')}
                </label>
              ))}
            </fieldset>
          </div>
          <table className="heatmap" data-testid="rfm-heatmap">
            <caption className="muted">{t('cellHint')}</caption>
            <thead>
              <tr>
                <th scope="col">
                  <span className="axis">
                    {t('recency')} ↓ / {t('frequency')} →
                  </span>
                </th>
                {[1, 2, 3, 4, 5].map((fs) => (
                  <th scope="col" key={fs}>
                    F {fs}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {[5, 4, 3, 2, 1].map((r) => (
                <tr key={r}>
                  <th scope="row">R {r}</th>
                  {[1, 2, 3, 4, 5].map((fs) => {
                    const cell = cellOf(r, fs);
                    const strength = value(cell) / max;
                    const label = cell
                      ? t('cell', {
                          r,
                          f: fs,
                          profiles: f.number(cell.profiles),
                          revenue: f.money(cell.revenueCents, grid.currency),
                        })
                      : t('emptyCell', { r, f: fs });
                    return (
                      <td key={fs}>
                        <button
                          type="button"
                          className="heat-cell"
                          style={{ background: heat(strength), color: inkOn(strength) }}
                          aria-label={label}
                          aria-pressed={selected?.r === r && selected?.f === fs}
                          data-testid={`rfm-cell-${r}-${fs}`}
                          data-profiles={cell?.profiles ?? 0}
                          disabled={!cell}
                          onClick={() => setSelected({ r, f: fs })}
                        >
                          <span className="heat-count">{cell ? f.number(cell.profiles) : '–'}</span>
                          {cell ? (
                            <span className="heat-money">{f.money(cell.revenueCents, grid.currency)}</span>
                          ) : null}
                        </button>
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section className="card" aria-labelledby="labels-heading">
          <h2 id="labels-heading">{t('labels')}</h2>
          <div className="chart" role="img" aria-label={t('labels')}>
            <ResponsiveContainer width="100%" height={Math.max(160, grid.labels.length * 28)}>
              <BarChart
                data={grid.labels.map((l) => ({ ...l, name: name(l.label) }))}
                layout="vertical"
                margin={{ left: 24 }}
              >
                <CartesianGrid strokeDasharray="3 3" horizontal={false} />
                <XAxis type="number" allowDecimals={false} tickFormatter={(v: number) => f.number(v)} />
                <YAxis type="category" dataKey="name" width={140} interval={0} />
                <Tooltip formatter={(v) => f.number(Number(v))} />
                <Bar dataKey="profiles" name={t('profiles')} fill={seriesColor(0)} isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </div>
          <details>
            <summary>{c('showTable')}</summary>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('label')}</th>
                  <th scope="col" className="num">
                    {t('profiles')}
                  </th>
                  <th scope="col" className="num">
                    {t('revenue')}
                  </th>
                </tr>
              </thead>
              <tbody>
                {grid.labels.map((l) => (
                  <tr key={l.label}>
                    <td>{name(l.label)}</td>
                    <td className="num">{f.number(l.profiles)}</td>
                    <td className="num">{f.money(l.revenueCents, grid.currency)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </section>
      </div>
      {selected ? <CellMembers cell={selected} currency={grid.currency} /> : null}
      <section className="card" aria-labelledby="movement-heading">
        <h2 id="movement-heading">{t('movement', { time: f.dateTime(grid.previousComputedAt) })}</h2>
        {grid.previousComputedAt === null ? (
          <p className="muted">{t('noMovement')}</p>
        ) : (
          <>
            <p>{t('unchanged', { count: f.number(kept) })}</p>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('from')}</th>
                  <th scope="col">{t('to')}</th>
                  <th scope="col" className="num">
                    {t('profiles')}
                  </th>
                </tr>
              </thead>
              <tbody>
                {moved.map((m) => (
                  <tr key={`${m.from}>${m.to}`}>
                    <td>{m.from ? name(m.from) : t('newPurchaser')}</td>
                    <td>{m.to ? name(m.to) : t('gone')}</td>
                    <td className="num">{f.number(m.profiles)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
    </>
  );
}

function CellMembers({ cell, currency }: { readonly cell: { r: number; f: number }; readonly currency: string }) {
  const t = useMessages(messages);
  const f = useFormat();
  const { locale } = useLocale();
  const api = useApi();
  const query = useInfiniteQuery({
    queryKey: ['rfm-cell', cell.r, cell.f],
    initialPageParam: '',
    queryFn: ({ pageParam }) =>
      api.get<{ members: RfmMember[]; next: string | null }>(`/v1/console/rfm/cells/${cell.r}/${cell.f}`, {
        after: pageParam,
        limit: 50,
      }),
    getNextPageParam: (last) => last.next ?? undefined,
  });
  const members = query.data?.pages.flatMap((p) => p.members) ?? [];
  return (
    <section className="card" aria-labelledby="cell-heading" aria-live="polite">
      <h2 id="cell-heading">{t('cellHeading', { r: cell.r, f: cell.f })}</h2>
      {query.error ? <ErrorMessage error={query.error} onRetry={() => query.refetch()} /> : null}
      <table data-testid="rfm-cell-members">
        <thead>
          <tr>
            <th scope="col">{t('profile')}</th>
            <th scope="col">{t('email')}</th>
            <th scope="col">{t('label')}</th>
            <th scope="col" className="num">
              {t('recencyDays')}
            </th>
            <th scope="col" className="num">
              {t('orders')}
            </th>
            <th scope="col" className="num">
              {t('monetary')}
            </th>
          </tr>
        </thead>
        <tbody>
          {members.map((m) => (
            <tr key={m.profileId}>
              <td>
                <Link href={`/profiles/${encodeURIComponent(m.profileId)}`}>
                  <code>{m.profileId}</code>
                </Link>
              </td>
              <td>{m.email ?? '—'}</td>
              <td>{rfmLabelName(m.label, locale)}</td>
              <td className="num">{f.number(m.recencyDays)}</td>
              <td className="num">{f.number(m.frequency)}</td>
              <td className="num">{f.money(m.monetaryCents, currency)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <LoadMore query={query} />
    </section>
  );
}

export default definePage({ path: '/rfm', nav: 40, scope: 'profile:read', messages, component: RfmPage });
