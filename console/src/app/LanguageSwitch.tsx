import { common } from './common-messages';
import { locales, useLocale, useMessages, type Locale } from './i18n';

const languageNames: Record<Locale, string> = { en: 'English', ja: '日本語' };

/** English or Japanese; the choice is kept in this browser. */
export function LanguageSwitch() {
  const t = useMessages(common);
  const { locale, setLocale } = useLocale();
  return (
    <label className="language">
      <span>{t('language')}</span>
      <select value={locale} onChange={(e) => setLocale(e.target.value as Locale)} data-testid="language">
        {locales.map((l) => (
          <option key={l} value={l} lang={l}>
            {languageNames[l]}
          </option>
        ))}
      </select>
    </label>
  );
}
