import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { ApiFailure } from '../app/api';
import { defineMessages, useFormat, useLocale, useMessages } from '../app/i18n';
import { rfmLabelName } from '../ui/rfm-label-names';
import { definePage } from '../app/page';
import { useApi, useSession } from '../app/session';
import { IdentityGraph, LinkTable, type GraphEdge, type GraphNode } from '../profile/IdentityGraph';
import { ErrorMessage, LoadMore, QueryState } from '../ui/feedback';

interface Profile360 {
  requestedId: string;
  profileId: string;
  identifiers: { type: string; value: string }[];
  mergedProfiles: { profileId: string; mergedAt: string; messageId: string }[];
  graph: { nodes: GraphNode[]; edges: GraphEdge[] };
  traits: Record<string, unknown>;
  firstSeen: string | null;
  lastSeen: string | null;
  channels: string[];
  rfm: {
    recencyDays: number;
    frequency: number;
    monetaryCents: string;
    r: number;
    f: number;
    m: number;
    label: string;
    lastPurchaseAt: string;
    currency: string;
  } | null;
  segments: {
    segmentId: string;
    name: string;
    member: boolean;
    since: string | null;
    history: { change: string; at: string; evaluation: string }[];
  }[];
  consent: {
    current: Record<string, boolean>;
    history: { at: string; messageId: string; purpose: string; granted: boolean }[];
  };
}

interface TimelineEvent {
  messageId: string;
  type: string;
  event: string;
  name: string;
  timestamp: string;
  channel: string;
  source: string;
  revenue: string | null;
  currency: string;
  orderId: string;
  properties: string;
}

const messages = defineMessages({
  en: {
    title: 'Profile',
    heading: 'Profile {id}',
    mergedNotice: '{requested} was merged into this profile.',
    identifiers: 'Identifiers',
    graph: 'Identity graph',
    allLinks: 'Every recorded link ({count})',
    traits: 'Traits',
    noTraits: 'No traits.',
    seen: 'First seen {first}, last seen {last}',
    channels: 'Channels',
    rfm: 'RFM',
    noRfm: 'Not a purchaser: no RFM figures.',
    scores: 'R {r} · F {f} · M {m}',
    recency: 'Last purchase {date} ({days} days before the snapshot)',
    recencyOne: 'Last purchase {date} (1 day before the snapshot)',
    orders: '{orders} orders, {amount} net',
    segments: 'Segments',
    noSegments: 'In no segment, now or before.',
    member: 'member since {since}',
    formerMember: 'not a member',
    change_entered: 'entered',
    change_exited: 'exited',
    consent: 'Consent',
    noConsent: 'No consent statement received.',
    granted: 'granted',
    denied: 'not granted',
    consentHistory: 'History of statements',
    purpose: 'Purpose',
    statement: 'Statement',
    at: 'Time',
    message: 'Message',
    timeline: 'Events across channels',
    allChannels: 'All channels',
    channelFilter: 'Channel',
    noEvents: 'No events.',
    extra: 'Predictions, recommendations and access',
    predictions: 'Predictions',
    recommendations: 'Recommendations',
    accessLog: 'Who accessed this profile',
  },
  ja: {
    title: 'プロフィール',
    heading: 'プロフィール {id}',
    mergedNotice: '{requested} はこのプロフィールに統合されました。',
    identifiers: '識別子',
    graph: 'ID グラフ',
    allLinks: '記録されたすべてのリンク（{count} 件）',
    traits: '属性',
    noTraits: '属性はありません。',
    seen: '初回 {first}、最終 {last}',
    channels: 'チャネル',
    rfm: 'RFM',
    noRfm: '購入者ではないため RFM の値はありません。',
    scores: 'R {r} · F {f} · M {m}',
    recency: '最終購入 {date}（スナップショットの {days} 日前）',
    recencyOne: '最終購入 {date}（スナップショットの 1 日前）',
    orders: '注文 {orders} 件、純額 {amount}',
    segments: 'セグメント',
    noSegments: '現在も過去も、どのセグメントにも属していません。',
    member: '{since} からメンバー',
    formerMember: 'メンバーではありません',
    change_entered: '参加',
    change_exited: '離脱',
    consent: '同意',
    noConsent: '同意の表明はまだ受信していません。',
    granted: '同意',
    denied: '不同意',
    consentHistory: '表明の履歴',
    purpose: '目的',
    statement: '表明',
    at: '時刻',
    message: 'メッセージ',
    timeline: 'チャネル横断のイベント',
    allChannels: 'すべてのチャネル',
    channelFilter: 'チャネル',
    noEvents: 'イベントはありません。',
    extra: '予測・レコメンド・アクセス',
    predictions: '予測',
    recommendations: 'レコメンド',
    accessLog: 'このプロフィールにアクセスした人',
  },
});

function Profile360Page({ params }: { readonly params: Record<string, string | undefined> }) {
  const api = useApi();
  const id = params.id ?? '';
  const [, navigate] = useLocation();
  const query = useQuery({
    queryKey: ['profile', id],
    queryFn: () => api.get<Profile360>(`/v1/console/profiles/${encodeURIComponent(id)}`),
  });
  useEffect(() => {
    if (query.data && query.data.profileId !== id)
      navigate(`/profiles/${encodeURIComponent(query.data.profileId)}?merged=${encodeURIComponent(id)}`, {
        replace: true,
      });
  }, [query.data, id, navigate]);
  return <QueryState query={query}>{(profile) => <ProfileBody profile={profile} />}</QueryState>;
}

function ProfileBody({ profile }: { readonly profile: Profile360 }) {
  const t = useMessages(messages);
  const f = useFormat();
  const { locale } = useLocale();
  const merged = new URLSearchParams(window.location.search).get('merged');
  const identifierCount = profile.graph.nodes.filter((n) => n.kind === 'identifier' && n.state === 'linked').length;
  return (
    <article aria-labelledby="profile-heading" className="profile">
      <div className="page-head">
        <h1 id="profile-heading">{t('heading', { id: profile.profileId })}</h1>
        <p className="muted">
          {t('seen', { first: f.dateTime(profile.firstSeen), last: f.dateTime(profile.lastSeen) })}
        </p>
      </div>
      {merged ? <p className="notice">{t('mergedNotice', { requested: merged })}</p> : null}
      <div className="grid-2">
        <section className="card" aria-labelledby="graph-heading">
          <h2 id="graph-heading">{t('graph')}</h2>
          <p className="muted" data-testid="identifier-count">
            {t('identifiers')}: {f.number(identifierCount)}
          </p>
          <IdentityGraph nodes={profile.graph.nodes} edges={profile.graph.edges} />
          <details>
            <summary>{t('allLinks', { count: f.number(profile.graph.edges.length) })}</summary>
            <LinkTable edges={profile.graph.edges} format={f.dateTime} />
          </details>
        </section>
        <div className="stack">
          <section className="card" aria-labelledby="rfm-heading">
            <h2 id="rfm-heading">{t('rfm')}</h2>
            {profile.rfm ? (
              <>
                <p className="big">{rfmLabelName(profile.rfm.label, locale)}</p>
                <p>{t('scores', { r: profile.rfm.r, f: profile.rfm.f, m: profile.rfm.m })}</p>
                <p>
                  {t(profile.rfm.recencyDays === 1 ? 'recencyOne' : 'recency', {
                    date: f.date(profile.rfm.lastPurchaseAt),
                    days: f.number(profile.rfm.recencyDays),
                  })}
                </p>
                <p>
                  {t('orders', {
                    orders: f.number(profile.rfm.frequency),
                    amount: f.money(profile.rfm.monetaryCents, profile.rfm.currency),
                  })}
                </p>
              </>
            ) : (
              <p className="muted">{t('noRfm')}</p>
            )}
          </section>
          <section className="card" aria-labelledby="traits-heading">
            <h2 id="traits-heading">{t('traits')}</h2>
            <p>
              {t('channels')}:{' '}
              {profile.channels.map((c) => (
                <span key={c} className="chip">
                  {c}
                </span>
              ))}
            </p>
            {Object.keys(profile.traits).length === 0 ? (
              <p className="muted">{t('noTraits')}</p>
            ) : (
              <dl className="traits">
                {Object.entries(profile.traits).map(([key, value]) => (
                  <div key={key}>
                    <dt>{key}</dt>
                    <dd>{typeof value === 'object' ? <code>{JSON.stringify(value)}</code> : String(value)}</dd>
                  </div>
                ))}
              </dl>
            )}
          </section>
          <Consent profile={profile} />
        </div>
      </div>
      <Segments profile={profile} />
      <ExtraPanels profile={profile} />
      <Timeline profileId={profile.profileId} channels={profile.channels} />
    </article>
  );
}

function Segments({ profile }: { readonly profile: Profile360 }) {
  const t = useMessages(messages);
  const f = useFormat();
  return (
    <section className="card" aria-labelledby="segments-heading">
      <h2 id="segments-heading">{t('segments')}</h2>
      {profile.segments.length === 0 ? (
        <p className="muted">{t('noSegments')}</p>
      ) : (
        <ul className="segment-history">
          {profile.segments.map((s) => (
            <li key={s.segmentId}>
              <Link href={`/segments/${encodeURIComponent(s.segmentId)}`}>{s.name}</Link>{' '}
              <span className={s.member ? 'badge on' : 'badge'}>
                {s.member ? t('member', { since: f.dateTime(s.since) }) : t('formerMember')}
              </span>
              {s.history.length > 0 ? (
                <ol className="changes">
                  {s.history.map((h) => (
                    <li key={`${h.at}-${h.change}`}>
                      {f.dateTime(h.at)} — {t(h.change === 'entered' ? 'change_entered' : 'change_exited')}{' '}
                      <span className="muted">({h.evaluation})</span>
                    </li>
                  ))}
                </ol>
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Consent({ profile }: { readonly profile: Profile360 }) {
  const t = useMessages(messages);
  const f = useFormat();
  const purposes = Object.entries(profile.consent.current);
  return (
    <section className="card" aria-labelledby="consent-heading">
      <h2 id="consent-heading">{t('consent')}</h2>
      {purposes.length === 0 ? (
        <p className="muted">{t('noConsent')}</p>
      ) : (
        <ul className="plain">
          {purposes.map(([purpose, granted]) => (
            <li key={purpose}>
              <strong>{purpose}</strong>:{' '}
              <span className={granted ? 'badge on' : 'badge off'}>{granted ? t('granted') : t('denied')}</span>
            </li>
          ))}
        </ul>
      )}
      {profile.consent.history.length > 0 ? (
        <details>
          <summary>{t('consentHistory')}</summary>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('at')}</th>
                <th scope="col">{t('purpose')}</th>
                <th scope="col">{t('statement')}</th>
                <th scope="col">{t('message')}</th>
              </tr>
            </thead>
            <tbody>
              {profile.consent.history.map((h) => (
                <tr key={`${h.messageId}-${h.purpose}`}>
                  <td>{f.dateTime(h.at)}</td>
                  <td>{h.purpose}</td>
                  <td>{h.granted ? t('granted') : t('denied')}</td>
                  <td>
                    <code>{h.messageId}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      ) : null}
    </section>
  );
}

/**
 * Capabilities other parts of kumiki add (predictions, recommendations, the audit trail): each
 * panel asks the API the contract names for it and is left out while the API answers that the
 * endpoint does not exist (404 KUMIKI_NOT_FOUND) or the key lacks its scope.
 */
function ExtraPanels({ profile }: { readonly profile: Profile360 }) {
  const t = useMessages(messages);
  const api = useApi();
  const { can } = useSession();
  const first = profile.identifiers[0];
  const lookup = first ? `${encodeURIComponent(first.type)}/${encodeURIComponent(first.value)}` : null;
  const optional = async <T,>(path: string): Promise<T | null> => {
    try {
      return await api.get<T>(path);
    } catch (error) {
      if (error instanceof ApiFailure && (error.status === 404 || error.status === 403)) return null;
      throw error;
    }
  };
  const predictions = useQuery({
    queryKey: ['predictions', lookup],
    enabled: lookup !== null,
    queryFn: async () =>
      (await optional<{ predictions?: Record<string, unknown> }>(`/v1/profiles/${lookup}`))?.predictions ?? null,
  });
  const recommendations = useQuery({
    queryKey: ['recommendations', lookup],
    enabled: lookup !== null,
    queryFn: () => optional<unknown>(`/v1/profiles/${lookup}/recommendations`),
  });
  const audit = useQuery({
    queryKey: ['audit', lookup],
    enabled: lookup !== null && can('audit:read') && first !== undefined,
    queryFn: () =>
      optional<{ records: { at: string; keyName: string; role: string; action: string; outcome: string }[] }>(
        `/v1/audit?profile=${encodeURIComponent(`${first!.type}:${first!.value}`)}`,
      ),
  });
  const panels = [
    predictions.data ? { title: t('predictions'), body: <pre>{JSON.stringify(predictions.data, null, 2)}</pre> } : null,
    recommendations.data
      ? { title: t('recommendations'), body: <pre>{JSON.stringify(recommendations.data, null, 2)}</pre> }
      : null,
    audit.data
      ? {
          title: t('accessLog'),
          body: (
            <ul className="plain">
              {audit.data.records.map((r) => (
                <li key={`${r.at}-${r.keyName}-${r.action}`}>
                  {r.at} — {r.keyName} ({r.role}) {r.action}: {r.outcome}
                </li>
              ))}
            </ul>
          ),
        }
      : null,
  ].filter((p) => p !== null);
  const failed = [predictions, recommendations, audit].find((q) => q.error);
  if (panels.length === 0 && !failed) return null;
  return (
    <section className="card" aria-labelledby="extra-heading">
      <h2 id="extra-heading">{t('extra')}</h2>
      {failed ? <ErrorMessage error={failed.error} /> : null}
      {panels.map((p) => (
        <div key={p.title}>
          <h3>{p.title}</h3>
          {p.body}
        </div>
      ))}
    </section>
  );
}

function Timeline({ profileId, channels }: { readonly profileId: string; readonly channels: string[] }) {
  const t = useMessages(messages);
  const f = useFormat();
  const api = useApi();
  const [channel, setChannel] = useState('');
  const query = useInfiniteQuery({
    queryKey: ['timeline', profileId, channel],
    initialPageParam: '',
    queryFn: ({ pageParam }) =>
      api.get<{ events: TimelineEvent[]; next: string | null }>(
        `/v1/console/profiles/${encodeURIComponent(profileId)}/events`,
        { before: pageParam, channel, limit: 25 },
      ),
    getNextPageParam: (last) => last.next ?? undefined,
  });
  const events = query.data?.pages.flatMap((p) => p.events) ?? [];
  return (
    <section className="card" aria-labelledby="timeline-heading">
      <div className="card-head">
        <h2 id="timeline-heading">{t('timeline')}</h2>
        <label>
          {t('channelFilter')}{' '}
          <select value={channel} onChange={(e) => setChannel(e.target.value)}>
            <option value="">{t('allChannels')}</option>
            {channels.map((ch) => (
              <option key={ch} value={ch}>
                {ch}
              </option>
            ))}
          </select>
        </label>
      </div>
      {query.error ? <ErrorMessage error={query.error} onRetry={() => query.refetch()} /> : null}
      {query.isPending ? null : events.length === 0 ? (
        <p className="muted">{t('noEvents')}</p>
      ) : (
        <ol className="timeline" data-testid="timeline">
          {events.map((e) => (
            <li key={e.messageId} className={`channel-${e.channel}`}>
              <time dateTime={e.timestamp}>{f.dateTime(e.timestamp)}</time>
              <span className="chip">{e.channel || '—'}</span>
              <strong>{e.type === 'track' ? e.event : e.name ? `${e.type}: ${e.name}` : e.type}</strong>
              {e.revenue !== null ? (
                <span>
                  {' '}
                  {f.decimal(Number(e.revenue))} {e.currency}
                </span>
              ) : null}
              <span className="muted"> {e.source}</span>
              {e.properties && e.properties !== '{}' ? (
                <details>
                  <summary>
                    <code>{e.messageId}</code>
                  </summary>
                  <pre>{pretty(e.properties)}</pre>
                </details>
              ) : null}
            </li>
          ))}
        </ol>
      )}
      <LoadMore query={query} />
    </section>
  );
}

/** JSON text indented for reading; text that is not JSON as it is. */
function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export default definePage({ path: '/profiles/:id', scope: 'profile:read', messages, component: Profile360Page });
