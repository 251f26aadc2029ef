package callbackclient

import (
	"context"
	"math/rand/v2"
	"time"

	"connectrpc.com/connect"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

// Default backoff bounds of Watch.
const (
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// WatchOptions tune Client.Watch.
type WatchOptions struct {
	// Cursor is the cursor of the last event already handled; Watch starts
	// after it. Empty starts from now.
	Cursor string
	// MinBackoff and MaxBackoff bound the wait before a reconnection; zero
	// means DefaultMinBackoff and DefaultMaxBackoff. The wait doubles with
	// each failed attempt in a row, with jitter, and starts over once a
	// stream delivers a message.
	MinBackoff, MaxBackoff time.Duration
	// OnRetry, when set, is told why the stream ended (nil for a clean end,
	// e.g. a server restart) before Watch waits delay and reconnects.
	OnRetry func(err error, delay time.Duration)
}

// Watch streams callback events to handle until ctx ends, handle fails or the
// server refuses the stream for good (bad credentials, bad cursor); it
// returns that error. Every other end of the stream (a network failure, a
// server restart, Unavailable when the server shuts down) is followed by a
// reconnection after a backoff, from the cursor of the last event handed to
// handle: events that arrived meanwhile are replayed, none is handed over
// twice. Events come in commit order, one at a time; heartbeats are not
// passed on.
func (c *Client) Watch(ctx context.Context, o WatchOptions, handle func(*callbacksv1.CallbackEvent) error) error {
	backoff := backoff{min: o.MinBackoff, max: o.MaxBackoff}
	cursor := o.Cursor
	for attempt := 0; ; attempt++ {
		var handleErr error
		err := c.watch(ctx, &callbacksv1.WatchCallbacksRequest{Cursor: cursor}, func(msg *callbacksv1.WatchCallbacksResponse) error {
			attempt = 0
			switch m := msg.GetMessage().(type) {
			case *callbacksv1.WatchCallbacksResponse_Heartbeat:
				// Only a first position is taken from heartbeats. The server
				// may read an event before it sends it, so a later heartbeat
				// can name a cursor past an event not yet received; event
				// cursors alone are safe to resume from.
				if cursor == "" {
					cursor = m.Heartbeat.GetCursor()
				}
			case *callbacksv1.WatchCallbacksResponse_Event:
				if handleErr = handle(m.Event); handleErr != nil {
					return handleErr
				}
				cursor = m.Event.GetCursor()
			}
			return nil
		})
		switch {
		case handleErr != nil:
			return handleErr
		case ctx.Err() != nil:
			return ctx.Err()
		case permanent(err):
			return err
		}
		delay := backoff.delay(attempt)
		if o.OnRetry != nil {
			o.OnRetry(err, delay)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// permanent reports whether a stream error means that reconnecting the same
// way cannot succeed.
func permanent(err error) bool {
	switch Code(err) {
	case connect.CodeUnauthenticated, connect.CodePermissionDenied, connect.CodeInvalidArgument,
		connect.CodeNotFound, connect.CodeUnimplemented, connect.CodeFailedPrecondition, connect.CodeOutOfRange:
		return true
	}
	return false
}

// backoff computes exponential waits with jitter.
type backoff struct {
	min, max time.Duration
}

// delay returns the wait before retry attempt (0 for the first retry after a
// working stream): min·2^attempt capped at max, scaled by a random factor in
// [0.5, 1) so that many clients cut off together do not reconnect together.
func (b backoff) delay(attempt int) time.Duration {
	lo, hi := b.min, b.max
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	d := lo
	for range attempt {
		if d >= hi/2 {
			d = hi
			break
		}
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}
