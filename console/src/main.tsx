import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Router } from 'wouter';
import { ApiFailure } from './app/api';
import { App } from './app/App';
import { I18nProvider } from './app/i18n';
import { SessionProvider } from './app/session';
import './styles.css';

const queries = new QueryClient({
  defaultOptions: {
    queries: {
      // A refused key or a bad request will not get better by asking again; an outage may.
      retry: (count, error) =>
        count < 2 && (!(error instanceof ApiFailure) || error.status === 0 || error.status >= 500),
      staleTime: 5_000,
      refetchOnWindowFocus: false,
    },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queries}>
      <I18nProvider>
        <SessionProvider>
          <Router base="/console">
            <App />
          </Router>
        </SessionProvider>
      </I18nProvider>
    </QueryClientProvider>
  </StrictMode>,
);
