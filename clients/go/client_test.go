package callbackclient_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	callbackclient "github.com/callbackd/callbackd/clients/go"
	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

// protocols are the ways a Client can reach the server.
var protocols = map[string]callbackclient.Options{
	"grpc":             {Protocol: callbackclient.ProtocolGRPC},
	"connect http/1.1": {Protocol: callbackclient.ProtocolConnect},
	"connect h2c":      {Protocol: callbackclient.ProtocolConnect, H2C: true},
}

// newClient returns a client of server at addr over o's protocol with token.
func newClient(t *testing.T, addr string, o callbackclient.Options, token string) *callbackclient.Client {
	t.Helper()
	o.Token = token
	c, err := callbackclient.New("http://"+addr, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestClient(t *testing.T) {
	t.Parallel()
	for name, o := range protocols {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c := newClient(t, server.Addr, o, callbackdtest.Token)

			sent, err := c.SendTestCallback(ctx, "workflow.completed")
			require.NoError(t, err)
			page, err := c.List(ctx, &callbacksv1.ListCallbacksRequest{ExternalJobId: sent.GetExternalJobId()})
			require.NoError(t, err)
			require.Len(t, page.GetCallbacks(), 1)
			require.Equal(t, sent.GetId(), page.GetCallbacks()[0].GetId())

			cb, err := c.Get(ctx, sent.GetId())
			require.NoError(t, err)
			require.Contains(t, string(cb.GetPayload()), sent.GetExternalJobId())

			view, err := c.MarkViewed(ctx, sent.GetId())
			require.NoError(t, err)
			require.Equal(t, sent.GetId(), view.GetCallbackId())

			now, err := c.Check(ctx, "")
			require.NoError(t, err)
			require.NotEmpty(t, now.GetNextCursor())

			_, err = c.Get(ctx, "00000000-0000-0000-0000-000000000000")
			require.Equal(t, connect.CodeNotFound, callbackclient.Code(err))

			_, err = newClient(t, server.Addr, o, "not-a-valid-token").List(ctx, &callbacksv1.ListCallbacksRequest{})
			require.Equal(t, connect.CodeUnauthenticated, callbackclient.Code(err))
			err = newClient(t, server.Addr, o, "not-a-valid-token").Watch(ctx, callbackclient.WatchOptions{}, func(*callbacksv1.CallbackEvent) error {
				return nil
			})
			require.Equal(t, connect.CodeUnauthenticated, callbackclient.Code(err), "a refused watch is not retried")
		})
	}
}

// TestWatchResumes cuts the connection under a watch, delivers a callback
// while the watcher cannot reconnect, and checks that the watcher gets every
// event exactly once.
func TestWatchResumes(t *testing.T) {
	t.Parallel()
	for name, o := range protocols {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			p := startProxy(t, server.Addr)
			watcher := newClient(t, p.addr(), o, callbackdtest.Token)
			sender := newClient(t, server.Addr, o, callbackdtest.Token)

			start, err := sender.Check(ctx, "")
			require.NoError(t, err)
			jobs := make(chan string, 10)
			var retries atomic.Int32
			done := make(chan error, 1)
			go func() {
				done <- watcher.Watch(ctx, callbackclient.WatchOptions{
					Cursor:     start.GetNextCursor(),
					MinBackoff: 10 * time.Millisecond,
					MaxBackoff: 50 * time.Millisecond,
					OnRetry:    func(error, time.Duration) { retries.Add(1) },
				}, func(ev *callbacksv1.CallbackEvent) error {
					if cb := ev.GetReceived(); cb != nil {
						jobs <- cb.GetExternalJobId()
					}
					return nil
				})
			}()
			// Callbacks of other tests come through too: keep ours, in order.
			send := func() string {
				res, err := sender.SendTestCallback(ctx, "workflow.completed")
				require.NoError(t, err)
				return res.GetExternalJobId()
			}
			var want, got []string
			next := func() string {
				for {
					select {
					case job := <-jobs:
						for _, w := range want {
							if job == w {
								got = append(got, job)
								return job
							}
						}
					case err := <-done:
						t.Fatalf("watch ended: %v", err)
					case <-time.After(10 * time.Second):
						t.Fatal("no event within 10 s")
					}
				}
			}

			want = append(want, send())
			require.Equal(t, want[0], next())

			p.setDown(true)
			want = append(want, send())
			require.Eventually(t, func() bool { return retries.Load() >= 2 }, 10*time.Second, 5*time.Millisecond,
				"the watcher tries to reconnect while the server is unreachable")
			p.setDown(false)
			require.Equal(t, want[1], next())

			want = append(want, send())
			require.Equal(t, want[2], next())
			require.Equal(t, want, got)

			cancel()
			require.ErrorIs(t, <-done, context.Canceled)
			select {
			case job := <-jobs:
				require.NotContains(t, want, job, "an event was handed over twice")
			default:
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		server string
		o      callbackclient.Options
	}{
		"unknown protocol":   {"http://127.0.0.1:1", callbackclient.Options{Protocol: "carrier-pigeon"}},
		"TLS over plaintext": {"http://127.0.0.1:1", callbackclient.Options{TLS: &tls.Config{}}},
		"unknown scheme":     {"ftp://127.0.0.1:1", callbackclient.Options{}},
		"a path":             {"http://127.0.0.1:1/api", callbackclient.Options{}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := callbackclient.New(tc.server, tc.o)
			require.Error(t, err)
		})
	}
}

// proxy forwards TCP connections to a target until it is set down, which
// cuts every connection and refuses new ones.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

// startProxy listens on a loopback port and forwards to target until the
// test ends.
func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.forward(c)
		}
	}()
	return p
}

// addr is the proxy's address.
func (p *proxy) addr() string { return p.ln.Addr().String() }

// forward connects c to the target, unless the proxy is down.
func (p *proxy) forward(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	up, err := net.Dial("tcp", p.target)
	if p.down || err != nil {
		c.Close()
		return
	}
	p.conns = append(p.conns, c, up)
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	go func() { _, _ = io.Copy(c, up); c.Close() }()
}

// setDown cuts all connections and refuses new ones, or accepts them again.
func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestProtocolOnTheWire checks that each protocol is what reaches the
// server: the content type of a call and the HTTP version it came over.
func TestProtocolOnTheWire(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		o           callbackclient.Options
		contentType string
		proto       string
	}{
		"grpc":             {callbackclient.Options{Protocol: callbackclient.ProtocolGRPC}, "application/grpc", "HTTP/2.0"},
		"grpc by default":  {callbackclient.Options{}, "application/grpc", "HTTP/2.0"},
		"connect http/1.1": {callbackclient.Options{Protocol: callbackclient.ProtocolConnect}, "application/proto", "HTTP/1.1"},
		"connect h2c":      {callbackclient.Options{Protocol: callbackclient.ProtocolConnect, H2C: true}, "application/proto", "HTTP/2.0"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			seen := make(chan string, 1)
			srv := &http.Server{
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					seen <- r.Header.Get("Content-Type") + " " + r.Proto
					http.Error(w, "not here", http.StatusNotFound)
				}),
				Protocols: new(http.Protocols),
			}
			srv.Protocols.SetHTTP1(true)
			srv.Protocols.SetUnencryptedHTTP2(true)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { _ = srv.Close() })

			_, err = newClient(t, ln.Addr().String(), tc.o, "token").List(t.Context(), &callbacksv1.ListCallbacksRequest{})
			require.Error(t, err)
			require.Equal(t, tc.contentType+" "+tc.proto, <-seen)
		})
	}
}
