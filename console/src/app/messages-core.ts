/**
 * Messages in English and Japanese. Each page keeps its own beside its code (one file per page);
 * the types make a Japanese text for every English key a compile error to forget.
 */
export const locales = ['en', 'ja'] as const;
export type Locale = (typeof locales)[number];

export type Messages<T extends Record<string, string>> = {
  readonly en: T;
  readonly ja: { readonly [K in keyof T]: string };
};

export function defineMessages<T extends Record<string, string>>(messages: Messages<T>): Messages<T> {
  return messages;
}

/** `{name}` placeholders replaced by the values given; unknown ones are left as they are. */
export function interpolate(text: string, vars?: Record<string, string | number>): string {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

/** The saved choice if it is a language we have, else the first browser language we have, else English. */
export function pickLocale(saved: string | null, browser: readonly string[]): Locale {
  if (saved === 'en' || saved === 'ja') return saved;
  for (const tag of browser) {
    const base = tag.toLowerCase().split('-')[0];
    if (base === 'ja' || base === 'en') return base;
  }
  return 'en';
}
