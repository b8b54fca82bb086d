import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { defineMessages, useFormat, useLocale, useMessages } from '../app/i18n';
import { rfmLabelName } from '../ui/rfm-label-names';
import { definePage } from '../app/page';
import { useApi, useSession } from '../app/session';
import { QueryState } from '../ui/feedback';

interface ProfileHit {
  profileId: string;
  matched: { type: string; value: string }[];
  name: string | null;
  email: string | null;
  lastSeen: string | null;
  label: string | null;
}

const messages = defineMessages({
  en: {
    title: 'Profiles',
    heading: 'Find a person',
    search: 'Identifier',
    searchHint:
      'An email, phone (E.164), user id, customer id, device or anonymous id — or its start, or a profile id.',
    searchHintMasked:
      'A profile id, or a pseudonym (pii_…) or its start: this key sees identifiers only as pseudonyms, so raw values find nothing.',
    find: 'Search',
    results: '{count} profiles found',
    resultsOne: '1 profile found',
    noResults: 'No profile has an identifier starting with “{q}”.',
    profile: 'Profile',
    matched: 'Matched identifiers',
    name: 'Name',
    email: 'Email',
    lastSeen: 'Last seen',
    rfmLabel: 'RFM label',
  },
  ja: {
    title: 'プロフィール',
    heading: '人物を検索',
    search: '識別子',
    searchHint:
      'メールアドレス、電話番号（E.164）、ユーザー ID、顧客 ID、デバイス ID、匿名 ID、またはその先頭部分、プロフィール ID。',
    searchHintMasked:
      'プロフィール ID、または仮名（pii_…）やその先頭部分。このキーでは識別子は仮名でのみ表示されるため、元の値では見つかりません。',
    find: '検索',
    results: '{count} 件のプロフィールが見つかりました',
    resultsOne: '1 件のプロフィールが見つかりました',
    noResults: '「{q}」で始まる識別子を持つプロフィールはありません。',
    profile: 'プロフィール',
    matched: '一致した識別子',
    name: '名前',
    email: 'メール',
    lastSeen: '最終アクセス',
    rfmLabel: 'RFM ラベル',
  },
});

function ProfilesPage() {
  const t = useMessages(messages);
  const { can } = useSession();
  const search = new URLSearchParams(useSearch());
  const q = search.get('q') ?? '';
  const [, navigate] = useLocation();
  const [text, setText] = useState(q);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    navigate(`/profiles?q=${encodeURIComponent(text.trim())}`);
  };
  return (
    <section aria-labelledby="profiles-heading">
      <h1 id="profiles-heading">{t('heading')}</h1>
      <form className="search" onSubmit={submit}>
        <label htmlFor="profile-search">{t('search')}</label>
        <div className="row">
          <input
            id="profile-search"
            type="search"
            value={text}
            onChange={(e) => setText(e.target.value)}
            aria-describedby="profile-search-hint"
            spellCheck={false}
          />
          <button type="submit">{t('find')}</button>
        </div>
        <p id="profile-search-hint" className="muted">
          {can('pii:read') ? t('searchHint') : t('searchHintMasked')}
        </p>
      </form>
      {q ? <Results q={q} /> : null}
    </section>
  );
}

function Results({ q }: { readonly q: string }) {
  const t = useMessages(messages);
  const f = useFormat();
  const { locale } = useLocale();
  const api = useApi();
  const query = useQuery({
    queryKey: ['profiles', q],
    queryFn: () => api.get<{ profiles: ProfileHit[] }>('/v1/console/profiles', { q, limit: 25 }),
  });
  return (
    <QueryState query={query}>
      {({ profiles }) =>
        profiles.length === 0 ? (
          <p role="status">{t('noResults', { q })}</p>
        ) : (
          <>
            <p role="status">
              {t(profiles.length === 1 ? 'resultsOne' : 'results', { count: f.number(profiles.length) })}
            </p>
            <table data-testid="profile-results">
              <thead>
                <tr>
                  <th scope="col">{t('profile')}</th>
                  <th scope="col">{t('name')}</th>
                  <th scope="col">{t('email')}</th>
                  <th scope="col">{t('matched')}</th>
                  <th scope="col">{t('rfmLabel')}</th>
                  <th scope="col">{t('lastSeen')}</th>
                </tr>
              </thead>
              <tbody>
                {profiles.map((p) => (
                  <tr key={p.profileId}>
                    <td>
                      <Link href={`/profiles/${encodeURIComponent(p.profileId)}`}>
                        <code>{p.profileId}</code>
                      </Link>
                    </td>
                    <td>{p.name ?? '—'}</td>
                    <td>{p.email ?? '—'}</td>
                    <td>
                      {p.matched.map((m) => (
                        <span key={`${m.type}:${m.value}`} className="chip">
                          {m.type}: {m.value}
                        </span>
                      ))}
                    </td>
                    <td>{p.label ? rfmLabelName(p.label, locale) : '—'}</td>
                    <td>{f.dateTime(p.lastSeen)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )
      }
    </QueryState>
  );
}

export default definePage({ path: '/profiles', nav: 20, scope: 'profile:read', messages, component: ProfilesPage });
