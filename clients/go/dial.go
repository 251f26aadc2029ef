package callbackclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
)

// Protocol is the wire protocol a Client speaks.
type Protocol string

// The protocols callbackd serves to Go clients, all on its one port.
const (
	ProtocolGRPC    Protocol = "grpc"    // gRPC over HTTP/2, with grpc-go
	ProtocolConnect Protocol = "connect" // the Connect protocol, with connect-go
)

// Options configure a connection to callbackd. The zero value speaks gRPC
// without credentials.
type Options struct {
	// Protocol is ProtocolGRPC when empty.
	Protocol Protocol
	// Token is sent as "Authorization: Bearer <Token>" on every call: a
	// static admin token or a JWT. Empty sends no credential.
	Token string
	// TLS configures TLS for https:// servers; nil uses the system roots.
	// Setting it for an http:// server is an error.
	TLS *tls.Config
	// H2C makes Connect speak HTTP/2 without TLS (prior knowledge) to
	// http:// servers instead of HTTP/1.1. gRPC always does.
	H2C bool
}

// endpoint is a parsed server address.
type endpoint struct {
	baseURL  string      // scheme://host:port, for Connect
	hostPort string      // host:port, for gRPC
	tls      *tls.Config // nil for plaintext
}

// parseServer reads a server given as http://host:port, https://host:port or
// host:port (plaintext).
func parseServer(server string, o Options) (endpoint, error) {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return endpoint{}, fmt.Errorf("server %q: %w", server, err)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return endpoint{}, fmt.Errorf("server %q: want http://host:port or https://host:port", server)
	}
	e := endpoint{baseURL: u.Scheme + "://" + u.Host, hostPort: u.Host}
	switch u.Scheme {
	case "https":
		e.tls = o.TLS
		if e.tls == nil {
			e.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	case "http":
		if o.TLS != nil {
			return endpoint{}, fmt.Errorf("server %q: TLS configured for a plaintext http:// server", server)
		}
	default:
		return endpoint{}, fmt.Errorf("server %q: unknown scheme %q, want http or https", server, u.Scheme)
	}
	if u.Port() == "" { // gRPC needs a port; Connect's URL implies it
		e.hostPort = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	return e, nil
}

// DialGRPC returns a grpc-go connection to server whose calls carry
// o.Token. Close it when done. It does not wait for the connection: the
// first call does.
func DialGRPC(server string, o Options) (*grpc.ClientConn, error) {
	e, err := parseServer(server, o)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if e.tls != nil {
		creds = credentials.NewTLS(e.tls)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if o.Token != "" {
		// Interceptors rather than PerRPCCredentials, which grpc-go refuses
		// to send without TLS: local servers are often plaintext.
		withToken := func(ctx context.Context) context.Context {
			return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.Token)
		}
		opts = append(opts,
			grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				return invoker(withToken(ctx), method, req, reply, cc, opts...)
			}),
			grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				return streamer(withToken(ctx), desc, cc, method, opts...)
			}))
	}
	conn, err := grpc.NewClient(e.hostPort, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", server, err)
	}
	return conn, nil
}

// NewConnectClient returns the generated connect-go client of the admin
// service at server, speaking o.Protocol (gRPC when empty, as New does),
// whose calls carry o.Token, and the http.Client under it (close its idle
// connections when done). gRPC needs HTTP/2: over TLS it is negotiated, to
// http:// servers it is spoken without TLS (h2c), as Connect is with o.H2C.
func NewConnectClient(server string, o Options) (callbacksv1connect.CallbackAdminServiceClient, *http.Client, error) {
	e, err := parseServer(server, o)
	if err != nil {
		return nil, nil, err
	}
	var opts []connect.ClientOption
	switch o.Protocol {
	case "", ProtocolGRPC:
		opts = append(opts, connect.WithGRPC())
	case ProtocolConnect:
	default:
		return nil, nil, fmt.Errorf("unknown protocol %q: want %s or %s", o.Protocol, ProtocolGRPC, ProtocolConnect)
	}
	if o.Token != "" {
		opts = append(opts, connect.WithInterceptors(bearer(o.Token)))
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = e.tls
	if e.tls == nil && (o.H2C || o.Protocol != ProtocolConnect) {
		transport.Protocols = new(http.Protocols)
		transport.Protocols.SetUnencryptedHTTP2(true)
	}
	httpClient := &http.Client{Transport: transport}
	return callbacksv1connect.NewCallbackAdminServiceClient(httpClient, e.baseURL, opts...), httpClient, nil
}

// bearer is a Connect client interceptor that sends a bearer token.
type bearer string

// WrapUnary sets the Authorization header of unary calls.
func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

// WrapStreamingClient sets the Authorization header of streams.
func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

// WrapStreamingHandler leaves handlers alone: bearer is for clients.
func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
