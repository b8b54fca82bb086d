import { Component, type ErrorInfo, type ReactNode } from 'react';
import { ApiFailure } from '../app/api';
import { common } from '../app/common-messages';
import { useMessages } from '../app/i18n';

/** What to tell a person about a failed call, in their language; the server's words in a disclosure. */
export function ErrorMessage({ error, onRetry }: { readonly error: unknown; readonly onRetry?: () => void }) {
  const t = useMessages(common);
  const failure = error instanceof ApiFailure ? error : new ApiFailure(0, 'CLIENT', String(error));
  const text = (() => {
    switch (failure.code) {
      case 'NETWORK':
        return t('errApiDown');
      case 'KUMIKI_ADMIN_UNAUTHORIZED':
      case 'KUMIKI_UNAUTHORIZED':
        return t('errKeyRejected');
      case 'KUMIKI_FORBIDDEN':
        return t('errForbidden');
      case 'KUMIKI_UNAVAILABLE':
        return t('errUnavailable');
      case 'KUMIKI_SQL_TIMEOUT':
        return t('errTimeout');
      case 'KUMIKI_SQL_ERROR':
      case 'KUMIKI_SQL_LIMIT':
      case 'KUMIKI_SQL_READ_ONLY':
        return t('errQueryFailed');
      case 'KUMIKI_INVALID_SEGMENT':
        return t('errInvalidSegment', { field: failure.field ?? 'rule' });
      case 'KUMIKI_PROFILE_NOT_FOUND':
      case 'KUMIKI_SEGMENT_NOT_FOUND':
      case 'KUMIKI_NOT_FOUND':
        return t('errNotFound');
      default:
        if (failure.status === 401) return t('errKeyRejected');
        if (failure.status === 403) return t('errForbidden');
        if (failure.status >= 400 && failure.status < 500)
          return t('errInvalid', { message: failure.field ? `${failure.field}` : failure.code });
        return t('errUnexpected', { code: failure.code });
    }
  })();
  return (
    <div className="error" role="alert" data-error-code={failure.code}>
      <p>{text}</p>
      {failure.code !== 'NETWORK' && failure.message ? (
        <details open={failure.code === 'KUMIKI_INVALID_SEGMENT'}>
          <summary>{t('detailsFromServer')}</summary>
          <p className="server-message">
            <code>{failure.code}</code> {failure.message}
          </p>
        </details>
      ) : null}
      {onRetry ? (
        <button type="button" onClick={onRetry}>
          {t('retry')}
        </button>
      ) : null}
    </div>
  );
}

export function Loading() {
  const t = useMessages(common);
  return (
    <p className="loading" aria-live="polite" aria-busy="true">
      {t('loading')}
    </p>
  );
}

/** A query's three states, so no page is ever blank: loading, a message, or the content. */
export function QueryState<T>({
  query,
  children,
}: {
  readonly query: { data: T | undefined; error: unknown; isPending: boolean; refetch: () => unknown };
  readonly children: (data: T) => ReactNode;
}) {
  if (query.error && query.data === undefined)
    return <ErrorMessage error={query.error} onRetry={() => query.refetch()} />;
  if (query.data === undefined) return <Loading />;
  return (
    <>
      {query.error ? <ErrorMessage error={query.error} onRetry={() => query.refetch()} /> : null}
      {children(query.data)}
    </>
  );
}

function PageFailed() {
  const t = useMessages(common);
  return (
    <div className="error" role="alert">
      <p>{t('errPage')}</p>
    </div>
  );
}

/** A page that throws while rendering shows a message in the user's language, never a stack trace. */
export class PageBoundary extends Component<{ children: ReactNode; resetKey: string }, { failed: boolean }> {
  override state = { failed: false };

  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error('console page failed', error, info.componentStack);
  }

  override componentDidUpdate(previous: { resetKey: string }): void {
    if (previous.resetKey !== this.props.resetKey && this.state.failed) this.setState({ failed: false });
  }

  override render(): ReactNode {
    return this.state.failed ? <PageFailed /> : this.props.children;
  }
}

/** "Show more" under a list that the server pages (a cursor per page). */
export function LoadMore(props: {
  readonly query: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => unknown };
}) {
  const t = useMessages(common);
  const { query } = props;
  if (!query.hasNextPage) return null;
  return (
    <button type="button" onClick={() => query.fetchNextPage()} disabled={query.isFetchingNextPage}>
      {query.isFetchingNextPage ? t('loading') : t('loadMore')}
    </button>
  );
}
