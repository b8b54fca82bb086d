import { Link, Route, Switch, useLocation } from 'wouter';
import { pages } from '../pages';
import { PageBoundary } from '../ui/feedback';
import { common } from './common-messages';
import { useLocale, useMessages } from './i18n';
import { LanguageSwitch } from './LanguageSwitch';
import { useSession } from './session';
import { SignIn } from './SignIn';

export function App() {
  const { session } = useSession();
  return session ? <Shell /> : <SignIn />;
}

function Shell() {
  const t = useMessages(common);
  const { locale } = useLocale();
  const { session, signOut, can } = useSession();
  const [location] = useLocation();
  const visible = pages.filter((p) => can(p.scope));
  const nav = visible.filter((p) => p.nav !== undefined).sort((a, b) => a.nav! - b.nav!);
  const active = (path: string) => (path === '/' ? location === '/' : location.startsWith(path));
  return (
    <div className="shell">
      <a className="skip" href="#content">
        {t('skipToContent')}
      </a>
      <header className="top">
        <span className="brand">
          <span aria-hidden="true">組木</span> {t('product')}
        </span>
        <nav aria-label={t('mainNavigation')}>
          <ul>
            {nav.map((p) => (
              <li key={p.path}>
                <Link href={p.path} aria-current={active(p.path) ? 'page' : undefined}>
                  {p.messages[locale].title}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="account">
          <LanguageSwitch />
          <span className="who">{t('signedInAs', { name: session!.grants.name, role: session!.grants.role })}</span>
          <button type="button" onClick={signOut}>
            {t('signOut')}
          </button>
        </div>
      </header>
      {!can('pii:read') ? (
        <p className="notice" role="status">
          {t('maskedNotice')}
        </p>
      ) : null}
      <main id="content" tabIndex={-1}>
        <PageBoundary resetKey={location}>
          <Switch>
            {visible.map((p) => (
              <Route key={p.path} path={p.path}>
                {(params) => <p.component params={params} />}
              </Route>
            ))}
            <Route>
              <NotFound />
            </Route>
          </Switch>
        </PageBoundary>
      </main>
    </div>
  );
}

function NotFound() {
  const t = useMessages(common);
  return (
    <section>
      <p>{t('notFoundPage')}</p>
      <Link href="/">{t('backToOverview')}</Link>
    </section>
  );
}
