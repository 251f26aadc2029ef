// The admin API client: the generated Connect client over the Connect
// protocol (JSON, HTTP/1.1 friendly), authenticated by the browser's session
// cookie.

import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { AdminClient } from '@callbackd/client';
import { createWebClients } from '@callbackd/client/web';

export type { AdminClient };

/**
 * createAdminClient returns a client of the browser's session: the session
 * cookie goes with every call (fetch sends same-origin cookies), with the
 * session's CSRF token in X-CSRF-Token, which the server requires of every
 * cookie-authenticated call. onUnauthenticated runs when the server rejects
 * the session (401 anywhere → sign-in).
 */
export function createAdminClient(csrfToken: string, onUnauthenticated: () => void, baseUrl = window.location.origin): AdminClient {
  const csrf: Interceptor = (next) => async (req) => {
    req.header.set('X-CSRF-Token', csrfToken);
    return next(req);
  };
  const onReject: Interceptor = (next) => async (req) => {
    try {
      return await next(req);
    } catch (e) {
      if (isUnauthenticated(e)) onUnauthenticated();
      throw e;
    }
  };
  return createWebClients({ baseUrl, interceptors: [csrf, onReject] }).admin;
}

export function isUnauthenticated(e: unknown): boolean {
  return ConnectError.from(e).code === Code.Unauthenticated;
}

/** errorMessage is a short, human text for a failed call. */
export function errorMessage(e: unknown): string {
  const err = ConnectError.from(e);
  return err.rawMessage || Code[err.code] || 'request failed';
}
