// The admin API client: the generated Connect client over the Connect
// protocol (JSON, HTTP/1.1 friendly), with the admin's bearer token.

import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { AdminClient } from '@callbackd/client';
import { createWebClients } from '@callbackd/client/web';

export type { AdminClient };

/**
 * createAdminClient returns a client that sends token with every call and
 * calls onUnauthenticated when the server rejects it (401 anywhere → login).
 */
export function createAdminClient(token: string, onUnauthenticated: () => void, baseUrl = window.location.origin): AdminClient {
  const onReject: Interceptor = (next) => async (req) => {
    try {
      return await next(req);
    } catch (e) {
      if (isUnauthenticated(e)) onUnauthenticated();
      throw e;
    }
  };
  return createWebClients({ baseUrl, token, interceptors: [onReject] }).admin;
}

export function isUnauthenticated(e: unknown): boolean {
  return ConnectError.from(e).code === Code.Unauthenticated;
}

/** errorMessage is a short, human text for a failed call. */
export function errorMessage(e: unknown): string {
  const err = ConnectError.from(e);
  return err.rawMessage || Code[err.code] || 'request failed';
}
