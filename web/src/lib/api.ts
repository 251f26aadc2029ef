// The admin API client: the generated Connect client over the Connect
// protocol (JSON, HTTP/1.1 friendly), with the admin's bearer token.

import { Code, ConnectError, createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { CallbackAdminService } from '../gen/callbacks/v1/callbacks_pb';

export type AdminClient = Client<typeof CallbackAdminService>;

/**
 * createAdminClient returns a client that sends token with every call and
 * calls onUnauthenticated when the server rejects it (401 anywhere → login).
 */
export function createAdminClient(token: string, onUnauthenticated: () => void, baseUrl = window.location.origin): AdminClient {
  const auth: Interceptor = (next) => async (req) => {
    req.header.set('Authorization', `Bearer ${token}`);
    try {
      return await next(req);
    } catch (e) {
      if (isUnauthenticated(e)) onUnauthenticated();
      throw e;
    }
  };
  const transport = createConnectTransport({ baseUrl, interceptors: [auth] });
  return createClient(CallbackAdminService, transport);
}

export function isUnauthenticated(e: unknown): boolean {
  return ConnectError.from(e).code === Code.Unauthenticated;
}

/** errorMessage is a short, human text for a failed call. */
export function errorMessage(e: unknown): string {
  const err = ConnectError.from(e);
  return err.rawMessage || Code[err.code] || 'request failed';
}
