// The browser transport for callbackd: the Connect protocol over fetch, with
// an optional bearer token. It is what the web UI uses.

import type { Interceptor, Transport } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { bearerToken, createCallbackdClients, type CallbackdClients } from './index.js';

/** WebOptions configure createWebTransport and createWebClients. */
export interface WebOptions {
  /** baseUrl is the server; in the UI, window.location.origin. */
  baseUrl: string;
  /** token, when set, is sent as "Authorization: Bearer <token>". */
  token?: string | (() => string);
  /** interceptors run after the bearer-token interceptor. */
  interceptors?: Interceptor[];
}

/** createWebTransport returns a Connect transport over fetch. */
export function createWebTransport(opts: WebOptions): Transport {
  const interceptors = [...(opts.token === undefined ? [] : [bearerToken(opts.token)]), ...(opts.interceptors ?? [])];
  return createConnectTransport({ baseUrl: opts.baseUrl, interceptors });
}

/** createWebClients returns the admin and ingest clients for browsers. */
export function createWebClients(opts: WebOptions): CallbackdClients {
  return createCallbackdClients(createWebTransport(opts));
}
