package callbackclient

import (
	"context"
	"errors"
	"fmt"
	"io"

	"connectrpc.com/connect"
	"google.golang.org/grpc/status"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
)

// Client calls callbackd's admin API over gRPC or Connect. It is safe for
// concurrent use. Build it with New and Close it when done.
type Client struct {
	rpc   rpcs
	close func() error
}

// rpcs is the admin API over one protocol.
type rpcs interface {
	list(context.Context, *callbacksv1.ListCallbacksRequest) (*callbacksv1.ListCallbacksResponse, error)
	get(context.Context, *callbacksv1.GetCallbackRequest) (*callbacksv1.GetCallbackResponse, error)
	markViewed(context.Context, *callbacksv1.MarkViewedRequest) (*callbacksv1.MarkViewedResponse, error)
	check(context.Context, *callbacksv1.CheckCallbacksRequest) (*callbacksv1.CheckCallbacksResponse, error)
	sendTest(context.Context, *callbacksv1.SendTestCallbackRequest) (*callbacksv1.SendTestCallbackResponse, error)
	// watch opens WatchCallbacks and calls f with each message until the
	// stream ends, f fails or ctx ends. A stream the server ends cleanly
	// returns nil.
	watch(ctx context.Context, req *callbacksv1.WatchCallbacksRequest, f func(*callbacksv1.WatchCallbacksResponse) error) error
}

// New returns a Client of the callbackd at server (http://host:port,
// https://host:port or host:port). It does not connect: the first call does.
func New(server string, o Options) (*Client, error) {
	switch o.Protocol {
	case "", ProtocolGRPC:
		conn, err := DialGRPC(server, o)
		if err != nil {
			return nil, err
		}
		return &Client{rpc: grpcRPCs{callbacksv1.NewCallbackAdminServiceClient(conn)}, close: conn.Close}, nil
	case ProtocolConnect:
		c, httpClient, err := NewConnectClient(server, o)
		if err != nil {
			return nil, err
		}
		return &Client{rpc: connectRPCs{c}, close: func() error { httpClient.CloseIdleConnections(); return nil }}, nil
	}
	return nil, fmt.Errorf("unknown protocol %q: want %s or %s", o.Protocol, ProtocolGRPC, ProtocolConnect)
}

// Close releases the client's connections.
func (c *Client) Close() error { return c.close() }

// List returns one page of callbacks, newest first, without payload bytes.
func (c *Client) List(ctx context.Context, req *callbacksv1.ListCallbacksRequest) (*callbacksv1.ListCallbacksResponse, error) {
	return c.rpc.list(ctx, req)
}

// Get returns the callback with this id, its exact payload bytes and its
// views included.
func (c *Client) Get(ctx context.Context, id string) (*callbacksv1.Callback, error) {
	res, err := c.rpc.get(ctx, &callbacksv1.GetCallbackRequest{Id: id})
	return res.GetCallback(), err
}

// MarkViewed records that the calling admin viewed the callback with this
// id and returns the view, whose time is the first view's.
func (c *Client) MarkViewed(ctx context.Context, id string) (*callbacksv1.CallbackView, error) {
	res, err := c.rpc.markViewed(ctx, &callbacksv1.MarkViewedRequest{Id: id})
	return res.GetView(), err
}

// Check returns the events after cursor after (up to the server's default
// page size) and the cursor to pass next; an empty after returns no events,
// only the current cursor.
func (c *Client) Check(ctx context.Context, after string) (*callbacksv1.CheckCallbacksResponse, error) {
	return c.rpc.check(ctx, &callbacksv1.CheckCallbacksRequest{After: after})
}

// SendTestCallback has the server sign a sample callback of event (empty
// means workflow.completed) with its own webhook secret and deliver it
// through its webhook route, with a fresh job id.
func (c *Client) SendTestCallback(ctx context.Context, event string) (*callbacksv1.SendTestCallbackResponse, error) {
	return c.rpc.sendTest(ctx, &callbacksv1.SendTestCallbackRequest{EventType: event})
}

// Code returns the RPC code of an error of either protocol: connect.CodeOf
// for Connect errors, the status code for gRPC ones (whose numbering
// connect.Code shares), and 0 for nil.
func Code(err error) connect.Code {
	if err == nil {
		return 0
	}
	if ce := new(connect.Error); errors.As(err, &ce) {
		return ce.Code()
	}
	return connect.Code(status.Code(err))
}

// grpcRPCs is the admin API over grpc-go.
type grpcRPCs struct {
	c callbacksv1.CallbackAdminServiceClient
}

// list calls ListCallbacks over gRPC.
func (g grpcRPCs) list(ctx context.Context, req *callbacksv1.ListCallbacksRequest) (*callbacksv1.ListCallbacksResponse, error) {
	return g.c.ListCallbacks(ctx, req)
}

// get calls GetCallback over gRPC.
func (g grpcRPCs) get(ctx context.Context, req *callbacksv1.GetCallbackRequest) (*callbacksv1.GetCallbackResponse, error) {
	return g.c.GetCallback(ctx, req)
}

// markViewed calls MarkViewed over gRPC.
func (g grpcRPCs) markViewed(ctx context.Context, req *callbacksv1.MarkViewedRequest) (*callbacksv1.MarkViewedResponse, error) {
	return g.c.MarkViewed(ctx, req)
}

// check calls CheckCallbacks over gRPC.
func (g grpcRPCs) check(ctx context.Context, req *callbacksv1.CheckCallbacksRequest) (*callbacksv1.CheckCallbacksResponse, error) {
	return g.c.CheckCallbacks(ctx, req)
}

// sendTest calls SendTestCallback over gRPC.
func (g grpcRPCs) sendTest(ctx context.Context, req *callbacksv1.SendTestCallbackRequest) (*callbacksv1.SendTestCallbackResponse, error) {
	return g.c.SendTestCallback(ctx, req)
}

// watch streams WatchCallbacks over gRPC; see rpcs.
func (g grpcRPCs) watch(ctx context.Context, req *callbacksv1.WatchCallbacksRequest, f func(*callbacksv1.WatchCallbacksResponse) error) error {
	ctx, cancel := context.WithCancel(ctx) // ends the stream when f fails
	defer cancel()
	stream, err := g.c.WatchCallbacks(ctx, req)
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := f(msg); err != nil {
			return err
		}
	}
}

// connectRPCs is the admin API over connect-go.
type connectRPCs struct {
	c callbacksv1connect.CallbackAdminServiceClient
}

// list calls ListCallbacks over Connect.
func (c connectRPCs) list(ctx context.Context, req *callbacksv1.ListCallbacksRequest) (*callbacksv1.ListCallbacksResponse, error) {
	return unary(ctx, c.c.ListCallbacks, req)
}

// get calls GetCallback over Connect.
func (c connectRPCs) get(ctx context.Context, req *callbacksv1.GetCallbackRequest) (*callbacksv1.GetCallbackResponse, error) {
	return unary(ctx, c.c.GetCallback, req)
}

// markViewed calls MarkViewed over Connect.
func (c connectRPCs) markViewed(ctx context.Context, req *callbacksv1.MarkViewedRequest) (*callbacksv1.MarkViewedResponse, error) {
	return unary(ctx, c.c.MarkViewed, req)
}

// check calls CheckCallbacks over Connect.
func (c connectRPCs) check(ctx context.Context, req *callbacksv1.CheckCallbacksRequest) (*callbacksv1.CheckCallbacksResponse, error) {
	return unary(ctx, c.c.CheckCallbacks, req)
}

// sendTest calls SendTestCallback over Connect.
func (c connectRPCs) sendTest(ctx context.Context, req *callbacksv1.SendTestCallbackRequest) (*callbacksv1.SendTestCallbackResponse, error) {
	return unary(ctx, c.c.SendTestCallback, req)
}

// watch streams WatchCallbacks over Connect; see rpcs.
func (c connectRPCs) watch(ctx context.Context, req *callbacksv1.WatchCallbacksRequest, f func(*callbacksv1.WatchCallbacksResponse) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.c.WatchCallbacks(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	defer stream.Close()
	for stream.Receive() {
		if err := f(stream.Msg()); err != nil {
			return err
		}
	}
	return stream.Err()
}

// unary calls a Connect unary RPC with a bare message.
func unary[Req, Res any](ctx context.Context, call func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), req *Req) (*Res, error) {
	res, err := call(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}
