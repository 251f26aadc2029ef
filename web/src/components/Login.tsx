import { useId, useState, type FormEvent } from 'react';
import { SessionError, tokenFromInput, tokenLogin, type SessionState } from '../lib/session';

/**
 * Login offers "Sign in with <provider>" when OIDC is configured, and the
 * token form (which exchanges the token for a session cookie) when the
 * server offers it.
 */
export function Login({
  message,
  loading,
  oidcProvider,
  tokenForm,
  onLogin,
}: {
  message: string;
  loading: boolean;
  oidcProvider: string;
  tokenForm: boolean;
  onLogin(state: SessionState): void;
}) {
  const [input, setInput] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const inputId = useId();
  const msgId = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    const token = tokenFromInput(input);
    if (!token) {
      setError('Paste an admin token, or the login URL the server printed.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      onLogin(await tokenLogin(token));
    } catch (err) {
      setError(err instanceof SessionError && err.status === 401 ? 'The server did not accept this token.' : `Could not check the token: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setBusy(false);
    }
  }

  const shown = error || message;
  return (
    <main className="min-h-screen flex items-center justify-center p-4">
      <div className="card w-full max-w-md space-y-4" aria-describedby={shown ? msgId : undefined} aria-busy={loading}>
        <h1 className="text-2xl font-semibold">callbackd</h1>
        <p className="text-sm muted">Admin console for LLM job callbacks.</p>
        {shown && (
          <p id={msgId} role="alert" className="alert" data-testid="login-message">
            {shown}
          </p>
        )}
        {oidcProvider && (
          <a href="/auth/login" className="btn-primary w-full block text-center" data-testid="oidc-login">
            Sign in with {oidcProvider}
          </a>
        )}
        {tokenForm && !loading && (
          <form onSubmit={submit} className="space-y-4">
            <div className="space-y-1">
              <label htmlFor={inputId} className="block text-sm font-medium">
                Admin token or login URL
              </label>
              <input
                id={inputId}
                name="token"
                type="password"
                autoComplete="off"
                autoFocus={!oidcProvider}
                className="input w-full font-mono"
                value={input}
                onChange={(e) => setInput(e.target.value)}
              />
              <p className="text-xs muted">Signs in every tab of this browser; the token itself is not kept.</p>
            </div>
            <button type="submit" className={oidcProvider ? 'btn-ghost w-full' : 'btn-primary w-full'} disabled={busy}>
              {busy ? 'Checking…' : 'Log in'}
            </button>
          </form>
        )}
      </div>
    </main>
  );
}

/** NotAdmin tells someone the provider signed in that they are not an admin: a page, not a sign-in loop. */
export function NotAdmin({ name, onBack }: { name: string; onBack(): void }) {
  return (
    <main className="min-h-screen flex items-center justify-center p-4">
      <div className="card w-full max-w-md space-y-4" data-testid="not-admin">
        <h1 className="text-2xl font-semibold">Not an admin</h1>
        <p role="alert" className="alert">
          {name} is signed in at the identity provider, but is not an admin of callbackd. Ask an administrator to grant access, or sign in with
          another account.
        </p>
        <a href="/auth/login" className="btn-primary w-full block text-center">
          Sign in with another account
        </a>
        <button type="button" className="btn-ghost w-full" onClick={onBack}>
          Back to sign-in
        </button>
      </div>
    </main>
  );
}
