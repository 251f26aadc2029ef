package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
)

// streamsPerConn is how many watch streams share one HTTP/2 connection. Go's
// HTTP/2 server allows 250 concurrent streams per connection by default.
const streamsPerConn = 100

// openParallel bounds the streams being opened at once, so that opening
// 10,000 watchers does not itself become a load test of the handshake.
const openParallel = 64

// delivery is one callback received by one watcher.
type delivery struct {
	id string
	at time.Time
}

// watcher is one WatchCallbacks stream. Only its own goroutine writes to it
// until the pool has stopped.
type watcher struct {
	got []delivery
	err error // why the stream ended early, if it did
}

// recvFunc returns the next message of a stream.
type recvFunc func() (*callbacksv1.WatchCallbacksResponse, error)

// pool is the set of watchers of one run, all on one server.
type pool struct {
	watchers  []*watcher
	delivered atomic.Int64  // received events over all watchers
	target    atomic.Int64  // delivered count the poster waits for
	reached   chan struct{} // signalled when delivered hits target
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closers   []func()
	stopOnce  sync.Once
}

// openPool opens n watchers on srv with protocol ("grpc" or "connect"),
// spread over ceil(n/streamsPerConn) HTTP/2 connections, and returns once
// each has received its opening heartbeat. It fails if any stream could not
// be opened within timeout.
func openPool(ctx context.Context, srv *server, protocol, token string, n int, timeout time.Duration) (*pool, error) {
	wctx, cancel := context.WithCancel(context.Background())
	p := &pool{reached: make(chan struct{}, 1), cancel: cancel}
	conns := (n + streamsPerConn - 1) / streamsPerConn
	openers := make([]func(context.Context) (recvFunc, error), conns)
	for c := range openers {
		open, closer, err := newOpener(srv, protocol, token)
		if err != nil {
			p.stop()
			return nil, err
		}
		openers[c] = open
		p.closers = append(p.closers, closer)
	}

	sem := make(chan struct{}, openParallel)
	ready := make(chan error, n)
	for i := range n {
		w := &watcher{}
		p.watchers = append(p.watchers, w)
		open := openers[i/streamsPerConn]
		p.wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-wctx.Done():
				ready <- wctx.Err()
				return
			}
			w.err = p.watch(wctx, open, w, func(err error) {
				<-sem
				ready <- err
			})
		})
	}

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var errs []error
	for range n {
		select {
		case err := <-ready:
			if err != nil && len(errs) < 3 {
				errs = append(errs, err)
			}
		case <-deadline.C:
			p.stop()
			return nil, fmt.Errorf("watchers not all open within %v", timeout)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		}
	}
	if len(errs) > 0 {
		p.stop()
		return nil, fmt.Errorf("open watchers: %w", errors.Join(errs...))
	}
	return p, nil
}

// watch opens one stream, reports through opened once its first message (a
// heartbeat) arrived or opening failed, then records every callback received
// until the stream ends. It returns why the stream ended, or nil if the pool
// stopped it.
func (p *pool) watch(ctx context.Context, open func(context.Context) (recvFunc, error), w *watcher, opened func(error)) error {
	recv, err := open(ctx)
	if err == nil {
		var first *callbacksv1.WatchCallbacksResponse
		if first, err = recv(); err == nil && first.GetHeartbeat() == nil {
			err = fmt.Errorf("first message is not a heartbeat: %v", first)
		}
	}
	opened(err)
	if err != nil {
		return err
	}
	for {
		msg, err := recv()
		at := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if cb := msg.GetEvent().GetReceived(); cb != nil {
			w.got = append(w.got, delivery{id: cb.GetId(), at: at})
			if p.delivered.Add(1) == p.target.Load() {
				select {
				case p.reached <- struct{}{}:
				default:
				}
			}
		}
	}
}

// expect sets the total delivery count that waitDelivered waits for.
func (p *pool) expect(total int64) { p.target.Store(total) }

// waitDelivered waits until the delivery count reaches the expected total,
// and reports whether it did within timeout.
func (p *pool) waitDelivered(ctx context.Context, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for p.delivered.Load() < p.target.Load() {
		select {
		case <-p.reached:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// stop ends every stream and closes the connections. After it returns, the
// watchers may be read.
func (p *pool) stop() {
	p.stopOnce.Do(func() {
		p.cancel()
		p.wg.Wait()
		for _, c := range p.closers {
			c()
		}
	})
}

// newOpener returns a function that opens one WatchCallbacks stream over a
// connection of its own (shared by every stream it opens), and a function
// that closes that connection.
func newOpener(srv *server, protocol, token string) (func(context.Context) (recvFunc, error), func(), error) {
	req := &callbacksv1.WatchCallbacksRequest{}
	switch protocol {
	case "grpc":
		conn, err := grpc.NewClient("passthrough:///"+srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, nil, fmt.Errorf("gRPC client: %w", err)
		}
		client := callbacksv1.NewCallbackAdminServiceClient(conn)
		open := func(ctx context.Context) (recvFunc, error) {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
			stream, err := client.WatchCallbacks(ctx, req)
			if err != nil {
				return nil, err
			}
			return stream.Recv, nil
		}
		return open, func() { _ = conn.Close() }, nil
	case "connect":
		// h2c: HTTP/2 without TLS, so that streams share connections as
		// they do with gRPC.
		protocols := new(http.Protocols)
		protocols.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: protocols}
		client := callbacksv1connect.NewCallbackAdminServiceClient(&http.Client{Transport: tr}, srv.URL)
		open := func(ctx context.Context) (recvFunc, error) {
			r := connect.NewRequest(req)
			r.Header().Set("Authorization", "Bearer "+token)
			stream, err := client.WatchCallbacks(ctx, r)
			if err != nil {
				return nil, err
			}
			return func() (*callbacksv1.WatchCallbacksResponse, error) {
				if stream.Receive() {
					return stream.Msg(), nil
				}
				if err := stream.Err(); err != nil {
					return nil, err
				}
				return nil, errors.New("stream ended by the server")
			}, nil
		}
		return open, tr.CloseIdleConnections, nil
	}
	return nil, nil, fmt.Errorf("unknown protocol %q", protocol)
}
