package callbackclient

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/grpc/status"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
)

// Client calls callbackd's admin API over gRPC or Connect. Both protocols
// run through one connect-go client, which speaks gRPC too, so that every RPC
// has one implementation. It is safe for concurrent use. Build it with New and
// Close it when done.
type Client struct {
	admin      callbacksv1connect.CallbackAdminServiceClient
	httpClient *http.Client
}

// New returns a Client of the callbackd at server (http://host:port,
// https://host:port or host:port). It does not connect: the first call does.
func New(server string, o Options) (*Client, error) {
	admin, httpClient, err := NewConnectClient(server, o)
	if err != nil {
		return nil, err
	}
	return &Client{admin: admin, httpClient: httpClient}, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() error {
	c.httpClient.CloseIdleConnections()
	return nil
}

// List returns one page of callbacks, newest first, without payload bytes.
func (c *Client) List(ctx context.Context, req *callbacksv1.ListCallbacksRequest) (*callbacksv1.ListCallbacksResponse, error) {
	return unary(ctx, c.admin.ListCallbacks, req)
}

// Get returns the callback with this id, its exact payload bytes and its
// views included.
func (c *Client) Get(ctx context.Context, id string) (*callbacksv1.Callback, error) {
	res, err := unary(ctx, c.admin.GetCallback, &callbacksv1.GetCallbackRequest{Id: id})
	return res.GetCallback(), err
}

// MarkViewed records that the calling admin viewed the callback with this
// id and returns the view, whose time is the first view's.
func (c *Client) MarkViewed(ctx context.Context, id string) (*callbacksv1.CallbackView, error) {
	res, err := unary(ctx, c.admin.MarkViewed, &callbacksv1.MarkViewedRequest{Id: id})
	return res.GetView(), err
}

// Check returns the events after cursor after (up to the server's default
// page size) and the cursor to pass next; an empty after returns no events,
// only the current cursor.
func (c *Client) Check(ctx context.Context, after string) (*callbacksv1.CheckCallbacksResponse, error) {
	return unary(ctx, c.admin.CheckCallbacks, &callbacksv1.CheckCallbacksRequest{After: after})
}

// SendTestCallback has the server sign a sample callback of event (empty
// means workflow.completed) with its own webhook secret and deliver it
// through its webhook route, with a fresh job id.
func (c *Client) SendTestCallback(ctx context.Context, event string) (*callbacksv1.SendTestCallbackResponse, error) {
	return unary(ctx, c.admin.SendTestCallback, &callbacksv1.SendTestCallbackRequest{EventType: event})
}

// Stats summarises the callbacks of a time range per bucket and per
// workflow (GetCallbackStats).
func (c *Client) Stats(ctx context.Context, req *callbacksv1.GetCallbackStatsRequest) (*callbacksv1.GetCallbackStatsResponse, error) {
	return unary(ctx, c.admin.GetCallbackStats, req)
}

// AlertRules returns the server's alert rules (ListAlertRules).
func (c *Client) AlertRules(ctx context.Context) (*callbacksv1.ListAlertRulesResponse, error) {
	return unary(ctx, c.admin.ListAlertRules, &callbacksv1.ListAlertRulesRequest{})
}

// AlertDeliveries returns a page of alert deliveries, newest first
// (ListAlertDeliveries).
func (c *Client) AlertDeliveries(ctx context.Context, req *callbacksv1.ListAlertDeliveriesRequest) (*callbacksv1.ListAlertDeliveriesResponse, error) {
	return unary(ctx, c.admin.ListAlertDeliveries, req)
}

// MarkAllViewed marks every callback matching the request's filters viewed
// by the calling admin and returns how many it newly marked.
func (c *Client) MarkAllViewed(ctx context.Context, req *callbacksv1.MarkAllViewedRequest) (int64, error) {
	res, err := unary(ctx, c.admin.MarkAllViewed, req)
	return res.GetMarked(), err
}

// Replay has the server POST the exact body of a stored callback to a URL
// (ReplayCallback) and returns what that URL answered. Without a secret in
// req the delivery is sent unsigned: the original signature is not kept.
func (c *Client) Replay(ctx context.Context, req *callbacksv1.ReplayCallbackRequest) (*callbacksv1.ReplayCallbackResponse, error) {
	return unary(ctx, c.admin.ReplayCallback, req)
}

// Code returns the RPC code of an error: the code of a *connect.Error (what
// Client returns on either protocol), the status code of a grpc-go error
// (from a DialGRPC connection; connect.Code shares gRPC's numbering), and 0
// for nil.
func Code(err error) connect.Code {
	if err == nil {
		return 0
	}
	if ce := new(connect.Error); errors.As(err, &ce) {
		return ce.Code()
	}
	return connect.Code(status.Code(err))
}

// watch opens WatchCallbacks and calls f with each message until the stream
// ends, f fails or ctx ends. A stream the server ends cleanly returns nil.
func (c *Client) watch(ctx context.Context, req *callbacksv1.WatchCallbacksRequest, f func(*callbacksv1.WatchCallbacksResponse) error) error {
	ctx, cancel := context.WithCancel(ctx) // ends the stream when f fails
	defer cancel()
	stream, err := c.admin.WatchCallbacks(ctx, connect.NewRequest(req))
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
