import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'wouter';
import { common } from '../app/common-messages';
import { defineMessages, useFormat, useMessages } from '../app/i18n';
import { definePage } from '../app/page';
import { useApi } from '../app/session';
import { ErrorMessage, QueryState } from '../ui/feedback';
import { SizeChart } from './segments.page';

interface Segment {
  id: string;
  name: string;
  kind: 'sql' | 'rule';
  sql: string;
  params: Record<string, unknown>;
  rule: unknown;
  purpose: string | null;
  createdAt: string;
}

interface MembersPage {
  members: { profileId: string; since: string; email: string | null }[];
  next: string | null;
}

const messages = defineMessages({
  en: {
    title: 'Segment',
    back: 'All segments',
    purpose: 'Members must have granted “{purpose}”.',
    created: 'Created {time}',
    rule: 'Rule',
    sql: 'SQL',
    compiled: 'Compiled SQL and its parameters',
    members: 'Members',
    profile: 'Profile',
    email: 'Email',
    since: 'Member since',
    export: 'Export all members (CSV)',
    exporting: 'Exporting…',
    page: 'Page {page}',
    none: 'No members now.',
  },
  ja: {
    title: 'セグメント',
    back: 'セグメント一覧',
    purpose: 'メンバーは「{purpose}」に同意している必要があります。',
    created: '{time} に作成',
    rule: 'ルール',
    sql: 'SQL',
    compiled: 'コンパイルされた SQL とパラメーター',
    members: 'メンバー',
    profile: 'プロフィール',
    email: 'メール',
    since: '参加日時',
    export: '全メンバーをエクスポート（CSV）',
    exporting: 'エクスポート中…',
    page: '{page} ページ目',
    none: '現在メンバーはいません。',
  },
});

function SegmentDetailPage({ params }: { readonly params: Record<string, string | undefined> }) {
  const t = useMessages(messages);
  const f = useFormat();
  const api = useApi();
  const id = params.id ?? '';
  const query = useQuery({
    queryKey: ['segment', id],
    queryFn: () => api.get<Segment>(`/v1/segments/${encodeURIComponent(id)}`),
  });
  const sizes = useQuery({
    queryKey: ['segment-count', id],
    queryFn: () => api.get<{ segments: { id: string; members: number }[] }>('/v1/console/segments'),
  });
  return (
    <QueryState query={query}>
      {(segment) => (
        <article aria-labelledby="segment-heading">
          <p>
            <Link href="/segments">← {t('back')}</Link>
          </p>
          <div className="page-head">
            <h1 id="segment-heading">{segment.name}</h1>
            <p className="muted">{t('created', { time: f.dateTime(segment.createdAt) })}</p>
          </div>
          {segment.purpose ? <p>{t('purpose', { purpose: segment.purpose })}</p> : null}
          <div className="grid-2">
            <section className="card" aria-labelledby="definition-heading">
              <h2 id="definition-heading">{segment.kind === 'rule' ? t('rule') : t('sql')}</h2>
              <pre className="code">
                {segment.kind === 'rule' ? JSON.stringify(segment.rule, null, 2) : segment.sql}
              </pre>
              {segment.kind === 'rule' ? (
                <details>
                  <summary>{t('compiled')}</summary>
                  <pre className="code">{segment.sql}</pre>
                  <pre className="code">{JSON.stringify(segment.params, null, 2)}</pre>
                </details>
              ) : null}
            </section>
            <SizeChart
              segment={{
                id: segment.id,
                name: segment.name,
                members: sizes.data?.segments.find((s) => s.id === segment.id)?.members ?? 0,
              }}
            />
          </div>
          <Members segment={segment} />
        </article>
      )}
    </QueryState>
  );
}

function Members({ segment }: { readonly segment: Segment }) {
  const t = useMessages(messages);
  const c = useMessages(common);
  const f = useFormat();
  const api = useApi();
  // Cursors of the pages seen so far: page n starts after cursors[n].
  const [cursors, setCursors] = useState<string[]>(['']);
  const [exportError, setExportError] = useState<unknown>(null);
  const [exporting, setExporting] = useState(false);
  const page = cursors.length - 1;
  const query = useQuery({
    queryKey: ['segment-members', segment.id, cursors[page]],
    queryFn: () =>
      api.get<MembersPage>(`/v1/console/segments/${encodeURIComponent(segment.id)}/members`, {
        after: cursors[page],
        limit: 50,
      }),
  });
  const download = async () => {
    setExporting(true);
    setExportError(null);
    try {
      const blob = await api.blob(`/v1/console/segments/${encodeURIComponent(segment.id)}/export`);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `${segment.name.replace(/[^\p{L}\p{N}._-]+/gu, '-') || segment.id}.csv`;
      a.click();
      URL.revokeObjectURL(url);
    } catch (error) {
      setExportError(error);
    } finally {
      setExporting(false);
    }
  };
  return (
    <section className="card" aria-labelledby="members-heading">
      <div className="card-head">
        <h2 id="members-heading">{t('members')}</h2>
        <button type="button" onClick={download} disabled={exporting}>
          {exporting ? t('exporting') : t('export')}
        </button>
      </div>
      {exportError ? <ErrorMessage error={exportError} /> : null}
      <QueryState query={query}>
        {(data) =>
          data.members.length === 0 ? (
            <p className="muted">{t('none')}</p>
          ) : (
            <>
              <table data-testid="segment-member-list">
                <thead>
                  <tr>
                    <th scope="col">{t('profile')}</th>
                    <th scope="col">{t('email')}</th>
                    <th scope="col">{t('since')}</th>
                  </tr>
                </thead>
                <tbody>
                  {data.members.map((m) => (
                    <tr key={m.profileId}>
                      <td>
                        <Link href={`/profiles/${encodeURIComponent(m.profileId)}`}>
                          <code>{m.profileId}</code>
                        </Link>
                      </td>
                      <td>{m.email ?? '—'}</td>
                      <td>{f.dateTime(m.since)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <nav className="pager" aria-label={t('members')}>
                <button type="button" disabled={page === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
                  {c('previous')}
                </button>
                <span>{t('page', { page: page + 1 })}</span>
                <button
                  type="button"
                  disabled={data.next === null}
                  onClick={() => data.next && setCursors([...cursors, data.next])}
                >
                  {c('next')}
                </button>
              </nav>
            </>
          )
        }
      </QueryState>
    </section>
  );
}

export default definePage({ path: '/segments/:id', scope: 'segment:read', messages, component: SegmentDetailPage });
