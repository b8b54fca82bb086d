import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { interpolate, pickLocale, type Locale, type Messages } from './messages-core';

export { defineMessages, type Locale, locales } from './messages-core';

interface I18nState {
  readonly locale: Locale;
  setLocale(locale: Locale): void;
}

const I18nContext = createContext<I18nState | null>(null);
const storageKey = 'kumiki.console.locale';

/** The language: the one chosen before (this browser), else the browser's own. */
export function I18nProvider({ children }: { readonly children: ReactNode }) {
  const [locale, setLocaleState] = useState<Locale>(() =>
    pickLocale(localStorage.getItem(storageKey), navigator.languages ?? [navigator.language]),
  );
  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);
  const setLocale = useCallback((next: Locale) => {
    localStorage.setItem(storageKey, next);
    setLocaleState(next);
  }, []);
  const value = useMemo(() => ({ locale, setLocale }), [locale, setLocale]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useLocale(): I18nState {
  const state = useContext(I18nContext);
  if (!state) throw new Error('useLocale outside I18nProvider');
  return state;
}

/** `t('key', { name: 'x' })` in the current language, from a page's or the app's messages. */
export function useMessages<T extends Record<string, string>>(
  messages: Messages<T>,
): (key: keyof T & string, vars?: Record<string, string | number>) => string {
  const { locale } = useLocale();
  return useCallback(
    (key, vars) => interpolate(messages[locale][key] ?? messages.en[key] ?? key, vars),
    [messages, locale],
  );
}

/** Numbers, money and dates in the current language's formats. */
export function useFormat() {
  const { locale } = useLocale();
  return useMemo(() => {
    const tag = locale === 'ja' ? 'ja-JP' : 'en-US';
    const number = new Intl.NumberFormat(tag);
    const decimal = new Intl.NumberFormat(tag, { maximumFractionDigits: 2 });
    const dateTime = new Intl.DateTimeFormat(tag, { dateStyle: 'medium', timeStyle: 'medium' });
    const date = new Intl.DateTimeFormat(tag, { dateStyle: 'medium' });
    const time = new Intl.DateTimeFormat(tag, { hour: '2-digit', minute: '2-digit' });
    const money = new Map<string, Intl.NumberFormat>();
    return {
      number: (n: number) => number.format(n),
      decimal: (n: number) => decimal.format(n),
      /** Cents as a decimal string (exact) in `currency`. */
      money: (cents: string | number, currency: string) => {
        let format = money.get(currency);
        if (!format) {
          format = new Intl.NumberFormat(tag, { style: 'currency', currency, maximumFractionDigits: 0 });
          money.set(currency, format);
        }
        return format.format(Number(cents) / 100);
      },
      dateTime: (iso: string | null | undefined) => (iso ? dateTime.format(new Date(iso)) : '—'),
      date: (iso: string | null | undefined) => (iso ? date.format(new Date(iso)) : '—'),
      time: (iso: string) => time.format(new Date(iso)),
    };
  }, [locale]);
}

export type Format = ReturnType<typeof useFormat>;
