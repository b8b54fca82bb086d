import { useState, type FormEvent } from 'react';
import { LanguageSwitch } from './LanguageSwitch';
import { common } from './common-messages';
import { useMessages } from './i18n';
import { useSession } from './session';
import { ErrorMessage } from '../ui/feedback';

export function SignIn() {
  const t = useMessages(common);
  const { signIn, endedBecause } = useSession();
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [missing, setMissing] = useState(false);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (key.trim() === '') {
      setMissing(true);
      return;
    }
    setMissing(false);
    setBusy(true);
    setError(null);
    try {
      await signIn(key.trim());
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in" id="content">
      <div className="sign-in-card">
        <div className="sign-in-top">
          <h1>
            <span aria-hidden="true">組木</span> {t('product')}
          </h1>
          <LanguageSwitch />
        </div>
        <h2>{t('signInTitle')}</h2>
        <p>{t('signInIntro')}</p>
        <form onSubmit={submit} noValidate>
          <label htmlFor="api-key">{t('apiKey')}</label>
          <input
            id="api-key"
            name="api-key"
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={key}
            onChange={(e) => setKey(e.target.value)}
            aria-invalid={missing || error !== null}
            aria-describedby={missing ? 'api-key-missing' : undefined}
            // biome-ignore lint/a11y/noAutofocus: the only field of the page
            autoFocus
          />
          {missing ? (
            <p id="api-key-missing" className="field-error" role="alert">
              {t('keyRequired')}
            </p>
          ) : null}
          <button type="submit" disabled={busy}>
            {busy ? t('signingIn') : t('signIn')}
          </button>
        </form>
        {error ? <ErrorMessage error={error} /> : null}
        {endedBecause ? <p role="status">{t('sessionEnded')}</p> : null}
      </div>
    </main>
  );
}
