// Session: the browser is signed in by a server-side session whose id is in
// an HttpOnly cookie (no script reads it), shared by every tab. The token
// form posts the token once and keeps nothing; OIDC sign-in is a redirect.

/**
 * tokenFromFragment reads a login URL's fragment ("#token=..."), which the
 * server prints when it generated a token. Fragments are never sent to the
 * server, so the token does not reach access logs.
 */
export function tokenFromFragment(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const token = params.get('token')?.trim();
  return token ? token : null;
}

/**
 * tokenFromInput accepts what an admin pastes: a bare token, or a whole
 * login URL with the token in its fragment.
 */
export function tokenFromInput(input: string): string | null {
  const text = input.trim();
  if (text === '') return null;
  const hashAt = text.indexOf('#');
  if (/^https?:\/\//i.test(text) || hashAt >= 0) {
    return hashAt >= 0 ? tokenFromFragment(text.slice(hashAt)) : null;
  }
  return text;
}

/** SessionState is what /auth/session answers: who is signed in, and how one signs in. */
export interface SessionState {
  admin: { id: string; name: string; source: string } | null;
  csrf_token?: string;
  session_ended?: boolean;
  oidc_provider: string;
  token_login: boolean;
}

/** SessionError is a refusal of a session route, with its reason. */
export class SessionError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

async function sessionCall(path: string, init: RequestInit): Promise<SessionState> {
  const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store', ...init });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new SessionError(res.status, String(body.reason ?? ''), String(body.message ?? res.statusText));
  return body as unknown as SessionState;
}

/** fetchSession asks the server who this browser is signed in as (every tab shares the cookie). */
export function fetchSession(): Promise<SessionState> {
  return sessionCall('/auth/session', { method: 'GET' });
}

/** tokenLogin exchanges an admin token for a session cookie, once: the token is not kept. */
export function tokenLogin(token: string): Promise<SessionState> {
  return sessionCall('/auth/session', { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
}

/** logoutRequest ends the session; an OIDC session answers the provider's end-session URL. */
export async function logoutRequest(csrfToken: string): Promise<string> {
  const res = await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrfToken } });
  const body = (await res.json().catch(() => ({}))) as { end_session_url?: string };
  return body.end_session_url ?? '';
}

/** signInMessage explains a refused sign-in (the ?signin= reason the server redirected with). */
export function signInMessage(reason: string): string {
  switch (reason) {
    case 'sign_in_state_mismatch':
      return 'The sign-in was refused: it did not come from a sign-in this browser started, or it was used already. Sign in again.';
    case 'sign_in_failed':
      return 'The identity provider did not sign you in. Try again.';
    case 'unavailable':
      return 'The identity provider cannot be reached. Try again later.';
    case '':
      return '';
    default:
      return `The sign-in was refused (${reason}).`;
  }
}

/**
 * credentialKey names the cross-tab channel and lock of one credential: tabs
 * logged in with the same token share one stream; different admins in one
 * browser do not. It is a hash (FNV-1a, 64 bits) so the token itself never
 * appears in a channel name; it needs no secrecy, channels are same-origin.
 */
export function credentialKey(token: string): string {
  let h = 0xcbf29ce484222325n;
  const bytes = new TextEncoder().encode(token);
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}
