// @callbackd/client: the generated messages and service descriptors for
// callbackd's API (src/gen, written by protoc-gen-es from proto/; do not edit
// it), plus a bearer-token interceptor and createCallbackdClients. The
// transports live in "@callbackd/client/node" (Connect or gRPC over HTTP/2)
// and "@callbackd/client/web" (Connect over fetch), so that a browser bundle
// never pulls in Node's http2.

import { createClient, type Client, type Interceptor, type Transport } from '@connectrpc/connect';
import { CallbackAdminService, CallbackIngestService } from './gen/callbacks/v1/callbacks_pb.js';

export * from './gen/callbacks/v1/callbacks_pb.js';

/** AdminClient calls the admin API (list, get, watch, …). */
export type AdminClient = Client<typeof CallbackAdminService>;

/** IngestClient calls the gRPC ingest API. */
export type IngestClient = Client<typeof CallbackIngestService>;

/** CallbackdClients are the clients of both services over one transport. */
export interface CallbackdClients {
  admin: AdminClient;
  ingest: IngestClient;
}

/**
 * bearerToken returns an interceptor that sends "Authorization: Bearer
 * <token>" with every call. token may be a function, called per request, for
 * tokens that change (a JWT that is refreshed, a token read from storage).
 */
export function bearerToken(token: string | (() => string)): Interceptor {
  return (next) => async (req) => {
    req.header.set('Authorization', `Bearer ${typeof token === 'function' ? token() : token}`);
    return await next(req);
  };
}

/** createCallbackdClients returns the admin and ingest clients over transport. */
export function createCallbackdClients(transport: Transport): CallbackdClients {
  return {
    admin: createClient(CallbackAdminService, transport),
    ingest: createClient(CallbackIngestService, transport),
  };
}
