package watch_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/watch"
)

// chanLink is an in-process watch.Link: what one hub announces, every other
// hub listening on the same channel hears. store/pgnotify is the real one
// (tested there against PostgreSQL); this one tests the hub's side alone.
type chanLink struct {
	out  chan<- struct{}
	in   <-chan struct{}
	fail error // returned by Listen at once when set
}

func (l *chanLink) Announce() {
	select {
	case l.out <- struct{}{}:
	default:
	}
}

func (l *chanLink) Listen(ctx context.Context, heard func()) error {
	if l.fail != nil {
		return l.fail
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.in:
			heard()
		}
	}
}

// TestLinkedHubsWakeEachOther runs two hubs over one database, as two
// replicas would, linked in both directions, with a poll interval too long
// to matter: a commit published on one reaches the other's watcher through
// the link alone.
func TestLinkedHubsWakeEachOther(t *testing.T) {
	t.Parallel()
	st := storetest.OpenSQLite(t)
	aToB, bToA := make(chan struct{}, 1), make(chan struct{}, 1)
	start := func(link watch.Link) *watch.Hub {
		hub, err := watch.NewHub(st, watch.Config{PollInterval: time.Hour, Link: link}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		require.NoError(t, err)
		require.NoError(t, hub.Start(t.Context()))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- hub.Run(ctx) }()
		t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
		return hub
	}
	a := start(&chanLink{out: aToB, in: bToA})
	b := start(&chanLink{out: bToA, in: aToB})
	sub, err := b.Subscribe(t.Context(), "")
	require.NoError(t, err)
	defer sub.Close()

	id := save(t, st)
	a.Publish(nil) // a's commit: b learns of it only through the link
	c, err := next(t, sub)
	require.NoError(t, err)
	require.Equal(t, id, c.Callback.ID)
}

// TestFailingLinkEndsRun: a link that cannot listen ends the hub's Run with
// its error (the server stops rather than run without replica
// notifications), and the hub's subscriptions end.
func TestFailingLinkEndsRun(t *testing.T) {
	t.Parallel()
	st := storetest.OpenSQLite(t)
	broken := errors.New("LISTEN refused")
	hub, err := watch.NewHub(st, watch.Config{Link: &chanLink{fail: broken}}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, hub.Start(t.Context()))
	require.ErrorIs(t, hub.Run(t.Context()), broken)
	sub, err := hub.Subscribe(t.Context(), "")
	require.NoError(t, err)
	defer sub.Close()
	_, err = next(t, sub)
	require.ErrorIs(t, err, watch.ErrStopped)
}
