import { useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { createApiClient, type ApiClient, type ApiFailure, type KeyGrants } from './api';

/**
 * Who is signed in: the API key (kept in this tab's sessionStorage only, never in a cookie or
 * localStorage) and what GET /v1/whoami says it may see. A 401 on any call ends the session and
 * says why on the sign-in page.
 */
interface SignedIn {
  readonly key: string;
  readonly grants: KeyGrants;
}

interface SessionState {
  readonly session: SignedIn | null;
  /** Why the last session ended without the user signing out (key refused mid-session). */
  readonly endedBecause: ApiFailure | null;
  readonly api: ApiClient;
  signIn(key: string): Promise<void>;
  signOut(): void;
  can(scope: string): boolean;
}

const SessionContext = createContext<SessionState | null>(null);
const storageKey = 'kumiki.console.session';

function restore(): SignedIn | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(storageKey) ?? 'null') as SignedIn | null;
    return saved && typeof saved.key === 'string' && Array.isArray(saved.grants?.scopes) ? saved : null;
  } catch {
    return null;
  }
}

export function SessionProvider({ children }: { readonly children: ReactNode }) {
  const queries = useQueryClient();
  const [session, setSession] = useState<SignedIn | null>(restore);
  const [endedBecause, setEndedBecause] = useState<ApiFailure | null>(null);

  const end = useCallback(
    (reason: ApiFailure | null) => {
      sessionStorage.removeItem(storageKey);
      queries.clear();
      setEndedBecause(reason);
      setSession(null);
    },
    [queries],
  );

  const api = useMemo(
    () =>
      createApiClient(session?.key ?? '', (failure) => {
        if (session) end(failure);
      }),
    [session, end],
  );

  const signIn = useCallback(async (key: string) => {
    let refused = false;
    const client = createApiClient(key, () => {
      refused = true;
    });
    const grants = await client.get<KeyGrants>('/v1/whoami');
    if (refused) return;
    const next = { key, grants };
    sessionStorage.setItem(storageKey, JSON.stringify(next));
    setEndedBecause(null);
    setSession(next);
  }, []);

  const value = useMemo<SessionState>(
    () => ({
      session,
      endedBecause,
      api,
      signIn,
      signOut: () => end(null),
      can: (scope) => session?.grants.scopes.includes(scope) ?? false,
    }),
    [session, endedBecause, api, signIn, end],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSession outside SessionProvider');
  return state;
}

/** The API client of the signed-in key. */
export function useApi(): ApiClient {
  return useSession().api;
}
