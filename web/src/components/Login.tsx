import { useId, useState, type FormEvent } from 'react';
import { createAdminClient, errorMessage, isUnauthenticated } from '../lib/api';
import { tokenFromInput } from '../lib/session';

/** Login asks for an admin token (or a login URL) and checks it with the server. */
export function Login({ message, onLogin }: { message: string; onLogin(token: string): void }) {
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
      await createAdminClient(token, () => {}).listCallbacks({ pageSize: 1 });
      onLogin(token);
    } catch (err) {
      setError(isUnauthenticated(err) ? 'The server did not accept this token.' : `Could not check the token: ${errorMessage(err)}`);
    } finally {
      setBusy(false);
    }
  }

  const shown = error || message;
  return (
    <main className="min-h-screen flex items-center justify-center p-4">
      <form onSubmit={submit} className="card w-full max-w-md space-y-4" aria-describedby={shown ? msgId : undefined}>
        <h1 className="text-2xl font-semibold">callbackd</h1>
        <p className="text-sm muted">Admin console for LLM job callbacks.</p>
        {shown && (
          <p id={msgId} role="alert" className="alert" data-testid="login-message">
            {shown}
          </p>
        )}
        <div className="space-y-1">
          <label htmlFor={inputId} className="block text-sm font-medium">
            Admin token or login URL
          </label>
          <input
            id={inputId}
            name="token"
            type="password"
            autoComplete="off"
            autoFocus
            className="input w-full font-mono"
            value={input}
            onChange={(e) => setInput(e.target.value)}
          />
          <p className="text-xs muted">Kept for this browser session only.</p>
          <p className="text-xs muted" data-testid="token-hint">
            No token? Admin tokens come from <code>--admin-token</code> (<code>CALLBACKD_ADMIN_TOKENS</code>). Started without one, callbackd generated a
            token: it printed a login URL on its terminal at start, and keeps the token in the file <code>admin-token</code> of its data directory
            (<code>--data-dir</code>, default <code>./data</code>: <code>cat data/admin-token</code>).
          </p>
        </div>
        <button type="submit" className="btn-primary w-full" disabled={busy}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
