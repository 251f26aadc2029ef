// Package callbackclient is the Go client of callbackd's admin API. It wraps
// the generated connect-go client of callbacks.v1.CallbackAdminService, which
// speaks gRPC or the Connect protocol, behind one small Client:
//
//	client, err := callbackclient.New("http://127.0.0.1:8080", callbackclient.Options{Token: token})
//	...
//	defer client.Close()
//	page, err := client.List(ctx, &callbacksv1.ListCallbacksRequest{EventType: "workflow.failed"})
//
// The token, a static admin token or a JWT (both are bearer tokens), is
// attached to every call by an interceptor. Servers given as https:// URLs
// are reached over TLS; http:// (or a bare host:port) means plaintext, where
// gRPC and Connect with Options.H2C speak HTTP/2 without TLS and plain
// Connect speaks HTTP/1.1.
//
// Client.Watch follows the WatchCallbacks stream across disconnects: it
// reconnects with bounded, jittered exponential backoff from the cursor of
// the last event it handed over, so that no event is missed and none is
// handed over twice.
//
// Errors are *connect.Error on either protocol; Code reads their code (and
// that of grpc-go errors). NewConnectClient gives the generated connect-go
// client itself and DialGRPC a grpc-go connection, with the same credentials
// and TLS, for callers that prefer them.
package callbackclient
