package server

import (
	"context"
	"net"
	"sync"
)

// pipeListener is an in-memory net.Listener: each dial makes a net.Pipe,
// whose one end the dialer gets and whose other end Accept returns. The REST
// gateway reaches the server's own gRPC handlers through it (see dialSelf).
type pipeListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept waits for the next dial, or for Close.
func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and later dials fail; connections already made stay
// open until their own ends close them.
func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

// Addr returns the address both ends of a pipe report.
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// DialContext returns the client end of a new connection once Accept has
// taken its server end.
func (l *pipeListener) DialContext(ctx context.Context) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		err := net.ErrClosed
		_, _ = server.Close(), client.Close()
		return nil, err
	case <-ctx.Done():
		_, _ = server.Close(), client.Close()
		return nil, ctx.Err()
	}
}

// pipeAddr is the address of an in-memory pipe.
type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
