// Node transports for callbackd: Connect or gRPC over HTTP/2 (h2c on http://
// URLs, TLS on https://), with an optional bearer token.

import type { Interceptor, Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { bearerToken, createCallbackdClients, type CallbackdClients } from './index.js';

/** NodeOptions configure createNodeTransport and createNodeClients. */
export interface NodeOptions {
  /** baseUrl is the server, e.g. "http://127.0.0.1:8080". */
  baseUrl: string;
  /** protocol is "connect" (the default) or "grpc". */
  protocol?: 'connect' | 'grpc';
  /** token, when set, is sent as "Authorization: Bearer <token>". */
  token?: string | (() => string);
  /** interceptors run after the bearer-token interceptor. */
  interceptors?: Interceptor[];
  /** sessionManager holds the HTTP/2 connection; one per baseUrl by default. */
  sessionManager?: Http2SessionManager;
}

/**
 * createNodeTransport returns a Connect or gRPC transport over HTTP/2 (gRPC
 * needs it; Connect uses it so that calls and streams share one connection).
 */
export function createNodeTransport(opts: NodeOptions): Transport {
  const interceptors = [...(opts.token === undefined ? [] : [bearerToken(opts.token)]), ...(opts.interceptors ?? [])];
  const common = {
    baseUrl: opts.baseUrl,
    httpVersion: '2' as const,
    interceptors,
    ...(opts.sessionManager === undefined ? {} : { sessionManager: opts.sessionManager }),
  };
  return opts.protocol === 'grpc' ? createGrpcTransport(common) : createConnectTransport(common);
}

/** NodeClients are the clients and a way to close their connection. */
export interface NodeClients extends CallbackdClients {
  /** close aborts open calls and closes the HTTP/2 connection. */
  close(): void;
}

/** createNodeClients returns the admin and ingest clients for Node. */
export function createNodeClients(opts: NodeOptions): NodeClients {
  const sessionManager = opts.sessionManager ?? new Http2SessionManager(opts.baseUrl);
  return {
    ...createCallbackdClients(createNodeTransport({ ...opts, sessionManager })),
    close: () => sessionManager.abort(),
  };
}
