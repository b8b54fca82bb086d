import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { defineMessages, useFormat, useMessages } from '../app/i18n';
import { definePage } from '../app/page';
import { useApi } from '../app/session';
import { seriesColor } from '../ui/colors';
import { bucketsOf, pivot } from '../ui/time-buckets';
import { ErrorMessage, LoadMore, QueryState } from '../ui/feedback';

type Window = '1h' | '24h' | '7d' | '30d';

const windowMs: Record<Window, number> = {
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
};

interface Summary {
  at: string;
  window: Window;
  bucketSeconds: number;
  total: number;
  byCode: { code: string; reason: string; stage: string; service: string; count: number }[];
  overTime: { at: string; code: string; count: number }[];
}

type DecodedBytes =
  | { format: 'json' | 'text'; size: number; text: string; hex: string }
  | { format: 'avro'; size: number; schemaId: number; text: string | null; error: string | null; hex: string }
  | { format: 'binary'; size: number; hex: string }
  | { format: 'empty'; size: 0; hex: '' };

interface Sample {
  failedAt: string;
  service: string;
  stage: string;
  code: string;
  reason: string;
  error: string;
  messageId: string;
  original: { topic: string | null; partition: number | null; offset: number | null };
  bytes: DecodedBytes | null;
}

const messages = defineMessages({
  en: {
    title: 'Dead letters',
    heading: 'Dead letters',
    intro: 'Input kumiki could not process, kept with the reason and the original bytes (kumiki.events.dlq).',
    window: 'Period',
    w1h: 'last hour',
    w24h: 'last 24 hours',
    w7d: 'last 7 days',
    w30d: 'last 30 days',
    total: '{count} dead letters',
    overTime: 'Over time, by code',
    byReason: 'By reason',
    code: 'Code',
    reason: 'Example reason',
    stage: 'Stage',
    service: 'Service',
    count: 'Count',
    showSamples: 'Show samples',
    samples: 'Samples',
    samplesOf: 'Samples of {code}',
    allCodes: 'all codes',
    none: 'No dead letters in this period.',
    failedAt: 'Failed at',
    message: 'Message',
    original: 'Original',
    http: 'HTTP request',
    bytes: 'Original bytes ({size} bytes, {format})',
    hex: 'Hex dump',
    noBytes: 'The original bytes are personal data this key may not read.',
    avroSchema: 'Avro record, schema id {id}',
    avroFailed: 'It does not decode with that schema: {error}',
    error: 'Error',
  },
  ja: {
    title: 'デッドレター',
    heading: 'デッドレター',
    intro: 'kumiki が処理できなかった入力です。理由と元のバイト列とともに保存されています（kumiki.events.dlq）。',
    window: '期間',
    w1h: '直近 1 時間',
    w24h: '直近 24 時間',
    w7d: '直近 7 日間',
    w30d: '直近 30 日間',
    total: 'デッドレター {count} 件',
    overTime: '時系列（コード別）',
    byReason: '理由別',
    code: 'コード',
    reason: '理由の例',
    stage: 'ステージ',
    service: 'サービス',
    count: '件数',
    showSamples: 'サンプルを表示',
    samples: 'サンプル',
    samplesOf: '{code} のサンプル',
    allCodes: 'すべてのコード',
    none: 'この期間のデッドレターはありません。',
    failedAt: '失敗時刻',
    message: 'メッセージ',
    original: '元の位置',
    http: 'HTTP リクエスト',
    bytes: '元のバイト列（{size} バイト、{format}）',
    hex: '16 進ダンプ',
    noBytes: '元のバイト列は個人データのため、このキーでは閲覧できません。',
    avroSchema: 'Avro レコード、スキーマ ID {id}',
    avroFailed: 'このスキーマではデコードできません: {error}',
    error: 'エラー',
  },
});

function DeadLettersPage() {
  const t = useMessages(messages);
  const api = useApi();
  const [window, setWindow] = useState<Window>('24h');
  const [code, setCode] = useState('');
  const query = useQuery({
    queryKey: ['dead-letters', window],
    queryFn: () => api.get<Summary>('/v1/console/dead-letters', { window }),
    refetchInterval: 15_000,
  });
  return (
    <section aria-labelledby="dlq-heading">
      <div className="page-head">
        <h1 id="dlq-heading">{t('heading')}</h1>
        <label>
          {t('window')}{' '}
          <select value={window} onChange={(e) => setWindow(e.target.value as Window)}>
            {(['1h', '24h', '7d', '30d'] as const).map((w) => (
              <option key={w} value={w}>
                {t(`w${w}`)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p className="muted">{t('intro')}</p>
      <QueryState query={query}>{(summary) => <SummaryView summary={summary} onCode={setCode} />}</QueryState>
      <Samples code={code} onCode={setCode} />
    </section>
  );
}

function SummaryView({ summary, onCode }: { readonly summary: Summary; readonly onCode: (code: string) => void }) {
  const t = useMessages(messages);
  const f = useFormat();
  if (summary.total === 0) return <p role="status">{t('none')}</p>;
  const codes = summary.byCode.map((c) => c.code);
  const buckets = pivot(
    bucketsOf(summary.at, windowMs[summary.window], summary.bucketSeconds * 1000),
    summary.overTime.map((o) => ({ at: o.at, series: o.code, count: o.count })),
    codes,
  );
  const tick = (iso: string) =>
    summary.bucketSeconds >= 86_400 ? f.date(iso) : summary.bucketSeconds >= 3_600 ? f.dateTime(iso) : f.time(iso);
  return (
    <>
      <section className="card" aria-labelledby="dlq-time-heading">
        <h2 id="dlq-time-heading">{t('overTime')}</h2>
        <p className="big" data-testid="dead-letter-total">
          {t('total', { count: f.number(summary.total) })}
        </p>
        <div className="chart" role="img" aria-label={t('overTime')}>
          <ResponsiveContainer width="100%" height={240}>
            <BarChart data={buckets}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="at" tickFormatter={tick} minTickGap={24} />
              <YAxis allowDecimals={false} width={48} tickFormatter={(v: number) => f.number(v)} />
              <Tooltip labelFormatter={(v) => f.dateTime(String(v))} formatter={(v) => f.number(Number(v))} />
              <Legend />
              {codes.map((c, i) => (
                <Bar key={c} dataKey={c} stackId="dlq" fill={seriesColor(i)} isAnimationActive={false} />
              ))}
            </BarChart>
          </ResponsiveContainer>
        </div>
      </section>
      <section className="card" aria-labelledby="dlq-reason-heading">
        <h2 id="dlq-reason-heading">{t('byReason')}</h2>
        <table data-testid="dead-letter-codes">
          <thead>
            <tr>
              <th scope="col">{t('code')}</th>
              <th scope="col">{t('reason')}</th>
              <th scope="col">{t('service')}</th>
              <th scope="col" className="num">
                {t('count')}
              </th>
              <th scope="col">
                <span className="visually-hidden">{t('showSamples')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {summary.byCode.map((c) => (
              <tr key={c.code}>
                <td>
                  <code>{c.code}</code>
                </td>
                <td className="clip" title={c.reason}>
                  {c.reason}
                </td>
                <td>
                  {c.service} / {c.stage}
                </td>
                <td className="num">{f.number(c.count)}</td>
                <td>
                  <button type="button" className="link" onClick={() => onCode(c.code)}>
                    {t('showSamples')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}

function Samples({ code, onCode }: { readonly code: string; readonly onCode: (code: string) => void }) {
  const t = useMessages(messages);
  const f = useFormat();
  const api = useApi();
  const query = useInfiniteQuery({
    queryKey: ['dead-letter-samples', code],
    initialPageParam: '',
    queryFn: ({ pageParam }) =>
      api.get<{ samples: Sample[]; next: string | null }>('/v1/console/dead-letters/samples', {
        code,
        before: pageParam,
        limit: 10,
      }),
    getNextPageParam: (last) => last.next ?? undefined,
  });
  const samples = query.data?.pages.flatMap((p) => p.samples) ?? [];
  return (
    <section className="card" aria-labelledby="samples-heading">
      <div className="card-head">
        <h2 id="samples-heading">{code ? t('samplesOf', { code }) : t('samples')}</h2>
        {code ? (
          <button type="button" className="link" onClick={() => onCode('')}>
            {t('allCodes')}
          </button>
        ) : null}
      </div>
      {query.error ? <ErrorMessage error={query.error} onRetry={() => query.refetch()} /> : null}
      <ol className="samples" data-testid="dead-letter-samples">
        {samples.map((s) => (
          <li key={`${s.failedAt}-${s.messageId}-${s.original.offset}-${s.reason}`} className="sample">
            <p>
              <code>{s.code}</code> · {s.service} / {s.stage} ·{' '}
              <time dateTime={s.failedAt}>{f.dateTime(s.failedAt)}</time>
            </p>
            <p>{s.reason}</p>
            <p className="muted">
              {t('original')}:{' '}
              {s.original.topic ? `${s.original.topic} [${s.original.partition}] @ ${s.original.offset}` : t('http')}
              {s.messageId ? (
                <>
                  {' '}
                  · {t('message')} <code>{s.messageId}</code>
                </>
              ) : null}
            </p>
            {s.error && s.error !== s.reason ? (
              <p className="muted">
                {t('error')}: {s.error}
              </p>
            ) : null}
            <Bytes bytes={s.bytes} />
          </li>
        ))}
      </ol>
      <LoadMore query={query} />
    </section>
  );
}

function Bytes({ bytes }: { readonly bytes: DecodedBytes | null }) {
  const t = useMessages(messages);
  const f = useFormat();
  if (bytes === null) return <p className="muted">{t('noBytes')}</p>;
  if (bytes.format === 'empty') return null;
  return (
    <details>
      <summary>{t('bytes', { size: f.number(bytes.size), format: bytes.format })}</summary>
      {bytes.format === 'avro' ? (
        <>
          <p>{t('avroSchema', { id: bytes.schemaId })}</p>
          {bytes.text ? <pre>{bytes.text}</pre> : <p>{t('avroFailed', { error: bytes.error ?? '' })}</p>}
        </>
      ) : bytes.format === 'binary' ? null : (
        <pre data-testid="dead-letter-bytes">{bytes.text}</pre>
      )}
      <details>
        <summary>{t('hex')}</summary>
        <pre className="hex">{bytes.hex}</pre>
      </details>
    </details>
  );
}

export default definePage({
  path: '/dead-letters',
  nav: 50,
  scope: 'profile:read',
  messages,
  component: DeadLettersPage,
});
