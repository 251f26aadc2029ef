import { useCallback, useEffect, useMemo, useState } from 'react';
import { Toaster } from 'sonner';
import { createAdminClient } from './lib/api';
import { clearToken, credentialKey, loadToken, saveToken, tokenFromFragment } from './lib/session';
import { SessionContext, type Session } from './session';
import { Login } from './components/Login';
import { Shell } from './components/Shell';
import { useTheme } from './components/ThemeToggle';

const expired = 'Your session ended: the server did not accept the token (401). Log in again.';

/** tokenOnArrival takes the token from a login URL and removes it from the address bar. */
function tokenOnArrival(): string | null {
  const fromURL = tokenFromFragment(window.location.hash);
  if (fromURL) {
    saveToken(window.sessionStorage, fromURL);
    window.history.replaceState(null, '', window.location.pathname + window.location.search);
    return fromURL;
  }
  return loadToken(window.sessionStorage);
}

export function App() {
  const [token, setToken] = useState<string | null>(tokenOnArrival);
  const [message, setMessage] = useState('');
  const theme = useTheme();

  const logout = useCallback((why?: string) => {
    clearToken(window.sessionStorage);
    setMessage(why ?? '');
    setToken(null);
  }, []);

  const session = useMemo<Session | null>(() => {
    if (!token) return null;
    return { client: createAdminClient(token, () => logout(expired)), credential: credentialKey(token), logout };
  }, [token, logout]);

  useEffect(() => {
    document.title = session ? 'callbackd' : 'Log in · callbackd';
  }, [session]);

  return (
    <>
      {session ? (
        <SessionContext.Provider value={session}>
          <Shell theme={theme} />
        </SessionContext.Provider>
      ) : (
        <Login
          message={message}
          onLogin={(t) => {
            saveToken(window.sessionStorage, t);
            setMessage('');
            setToken(t);
          }}
        />
      )}
      <Toaster theme={theme.resolved} position="bottom-right" closeButton visibleToasts={5} toastOptions={{ classNames: { toast: 'cbd-toast' } }} />
    </>
  );
}
