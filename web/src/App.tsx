import { useCallback, useEffect, useMemo, useState } from 'react';
import { Toaster } from 'sonner';
import { createAdminClient } from './lib/api';
import { credentialKey, fetchSession, logoutRequest, signInMessage, tokenFromFragment, tokenLogin, type SessionState } from './lib/session';
import { SessionContext, type Session } from './session';
import { Login, NotAdmin } from './components/Login';
import { Shell } from './components/Shell';
import { useTheme } from './components/ThemeToggle';

const expired = 'Your session ended: the server did not accept it (401). Sign in again.';

/** Arrival is what the page's address brought: a login URL's token, or a refused sign-in. */
interface Arrival {
  token: string | null;
  signin: string;
  name: string;
}

/** arrival reads the address once and removes the token and sign-in outcome from it. */
function arrival(): Arrival {
  const token = tokenFromFragment(window.location.hash);
  const params = new URLSearchParams(window.location.search);
  const signin = params.get('signin') ?? '';
  const name = params.get('name') ?? '';
  if (token || signin) {
    params.delete('signin');
    params.delete('name');
    const search = params.toString();
    window.history.replaceState(null, '', window.location.pathname + (search ? `?${search}` : ''));
  }
  return { token, signin, name };
}

export function App() {
  const [arrived] = useState(arrival);
  const [state, setState] = useState<SessionState | null>(null);
  const [message, setMessage] = useState(() => signInMessage(arrived.signin === 'sign_in_not_admin' ? '' : arrived.signin));
  const [notAdmin, setNotAdmin] = useState(arrived.signin === 'sign_in_not_admin' ? arrived.name || 'This account' : '');
  const theme = useTheme();

  useEffect(() => {
    let live = true;
    const load = arrived.token ? tokenLogin(arrived.token).catch(() => fetchSession()) : fetchSession();
    load
      .then((s) => {
        if (!live) return;
        if (!s.admin && s.session_ended) setMessage(expired);
        setState(s);
      })
      .catch((e: unknown) => live && setMessage(`Could not reach the server: ${e instanceof Error ? e.message : String(e)}`));
    return () => {
      live = false;
    };
  }, [arrived]);

  const signedOut = useCallback((why: string) => {
    setMessage(why);
    setState((s) => (s ? { ...s, admin: null, csrf_token: undefined } : s));
  }, []);

  const logout = useCallback(
    (why?: string) => {
      const csrf = state?.csrf_token ?? '';
      if (why !== undefined) {
        signedOut(why);
        return;
      }
      void logoutRequest(csrf).then((endSession) => {
        // The provider's own session ends too; it sends the browser back.
        if (endSession) window.location.assign(endSession);
        else signedOut('');
      });
    },
    [state, signedOut],
  );

  const csrf = state?.admin ? (state.csrf_token ?? '') : '';
  const session = useMemo<Session | null>(() => {
    if (!csrf || !state?.admin) return null;
    return { client: createAdminClient(csrf, () => signedOut(expired)), credential: credentialKey(csrf), admin: state.admin.name, logout };
  }, [csrf, state, signedOut, logout]);

  useEffect(() => {
    document.title = session ? 'callbackd' : 'Sign in · callbackd';
  }, [session]);

  let page;
  if (session) {
    page = (
      <SessionContext.Provider value={session}>
        <Shell theme={theme} />
      </SessionContext.Provider>
    );
  } else if (notAdmin) {
    page = <NotAdmin name={notAdmin} onBack={() => setNotAdmin('')} />;
  } else {
    page = (
      <Login
        message={message}
        loading={state === null && !message}
        oidcProvider={state?.oidc_provider ?? ''}
        tokenForm={state?.token_login ?? true}
        onLogin={(s) => {
          setMessage('');
          setState(s);
        }}
      />
    );
  }
  return (
    <>
      {page}
      <Toaster theme={theme.resolved} position="bottom-right" closeButton visibleToasts={5} toastOptions={{ classNames: { toast: 'cbd-toast' } }} />
    </>
  );
}
