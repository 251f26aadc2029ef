package faults_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/watch"
)

// watcher follows WatchCallbacks over gRPC like an admin UI does: when the
// stream ends (server killed, restarted, stopping) it reconnects with the
// cursor of the last event it received, so nothing committed meanwhile may
// be missed. It records every callback_id it saw in a received or
// redelivered event.
type watcher struct {
	addr string

	mu         sync.Mutex
	seen       map[string]bool
	cursor     string
	streams    int // streams opened
	events     int
	heartbeats int
	ahead      int      // heartbeats whose cursor was past the last event sent on their stream
	aheadNotes []string // a few of them
	stopped    chan struct{}
}

// startWatcher connects to addr (waiting for the first stream to open, so
// that it sees everything after this call) and follows it until the test ends.
func startWatcher(t testing.TB, addr string) *watcher {
	t.Helper()
	w := &watcher{addr: addr, seen: make(map[string]bool), stopped: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	opened := make(chan struct{})
	go w.run(ctx, opened)
	t.Cleanup(func() {
		cancel()
		<-w.stopped
	})
	select {
	case <-opened:
	case <-time.After(15 * time.Second):
		t.Fatalf("watch stream on %s did not open", addr)
	}
	return w
}

// run keeps a stream open until ctx ends.
func (w *watcher) run(ctx context.Context, opened chan struct{}) {
	defer close(w.stopped)
	var once sync.Once
	for ctx.Err() == nil {
		w.follow(ctx, func() { once.Do(func() { close(opened) }) })
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// follow opens one stream from the last cursor and reads it until it ends.
func (w *watcher) follow(ctx context.Context, opened func()) {
	conn, err := grpc.NewClient(w.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken))
	defer cancel()
	w.mu.Lock()
	cursor := w.cursor
	w.mu.Unlock()
	stream, err := callbacksv1.NewCallbackAdminServiceClient(conn).WatchCallbacks(ctx, &callbacksv1.WatchCallbacksRequest{Cursor: cursor})
	if err != nil {
		return
	}
	// last is the feed position of the last event sent on this stream (or
	// where the stream started): a heartbeat may not claim more, or a client
	// resuming from it would skip the events in between.
	last := int64(-1)
	for first := true; ; first = false {
		msg, err := stream.Recv()
		if err != nil {
			return
		}
		w.mu.Lock()
		switch {
		case msg.GetHeartbeat() != nil:
			w.heartbeats++
			hb := msg.GetHeartbeat().GetCursor()
			pos, perr := watch.ParseCursor(hb)
			switch {
			case first:
				w.streams++
				if w.cursor == "" {
					w.cursor = hb // the stream's starting point
				}
				last = pos
				opened()
			case perr == nil && pos > last:
				w.ahead++
				if len(w.aheadNotes) < 5 {
					w.aheadNotes = append(w.aheadNotes, fmt.Sprintf("heartbeat cursor %d after event %d", pos, last))
				}
			}
		case msg.GetEvent() != nil:
			ev := msg.GetEvent()
			w.cursor = ev.GetCursor()
			w.events++
			if pos, err := watch.ParseCursor(ev.GetCursor()); err == nil {
				last = pos
			}
			if c := ev.GetReceived(); c != nil {
				w.seen[c.GetCallbackId()] = true
			}
			if c := ev.GetRedelivered(); c != nil {
				w.seen[c.GetCallbackId()] = true
			}
		}
		w.mu.Unlock()
	}
}

// missing returns the acknowledged callbacks the watcher has not seen.
func (w *watcher) missing(items []*logical) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, l := range items {
		if _, acks, _ := l.snapshot(); acks > 0 && !w.seen[l.key] {
			out = append(out, l.key)
		}
	}
	return out
}

// checkGaps waits up to limit for the watcher to see every acknowledged
// callback, then records the rest as gaps in f and fails the test for them.
func (w *watcher) checkGaps(t testing.TB, items []*logical, limit time.Duration, f *figures) {
	t.Helper()
	var miss []string
	waitFor(context.Background(), limit, func() bool {
		miss = w.missing(items)
		return len(miss) == 0
	})
	f.Gaps = len(miss)
	w.mu.Lock()
	t.Logf("watcher: %d streams opened, %d events, %d heartbeats, %d callbacks seen", w.streams, w.events, w.heartbeats, len(w.seen))
	ahead, notes := w.ahead, w.aheadNotes
	w.mu.Unlock()
	if len(miss) > 0 {
		t.Errorf("the watcher never saw %d acknowledged callbacks (gaps), e.g.:\n%s", len(miss), joinLines(miss[:min(5, len(miss))]))
	}
	if ahead > 0 {
		t.Errorf("%d heartbeats carried a cursor past the last event sent on their stream (resuming from one would skip events), e.g.:\n%s", ahead, joinLines(notes))
	}
}
