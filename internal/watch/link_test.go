package watch_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/watch"
)

// chanLink is an in-process watch.Link: what one hub announces, every other
// hub listening on the same channel hears. store/pgnotify is the real one
// (tested there against PostgreSQL); this one tests the hub's side alone.
type chanLink struct {
	out  chan<- []callback.FeedTrace
	in   <-chan []callback.FeedTrace
	fail error // returned by Listen at once when set
}

func (l *chanLink) Announce(traces []callback.FeedTrace) {
	select {
	case l.out <- traces:
	default:
	}
}

func (l *chanLink) Listen(ctx context.Context, heard func([]callback.FeedTrace)) error {
	if l.fail != nil {
		return l.fail
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case traces := <-l.in:
			heard(traces)
		}
	}
}

// startLinked starts two hubs over one store, linked both ways.
func startLinked(t *testing.T, st callback.Store) (a, b *watch.Hub) {
	t.Helper()
	aToB, bToA := make(chan []callback.FeedTrace, 1), make(chan []callback.FeedTrace, 1)
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
	return start(&chanLink{out: aToB, in: bToA}), start(&chanLink{out: bToA, in: aToB})
}

// TestLinkedHubsWakeEachOther runs two hubs over one database, as two
// replicas would, linked in both directions, with a poll interval too long
// to matter: a commit published on one reaches the other's watcher through
// the link alone.
func TestLinkedHubsWakeEachOther(t *testing.T) {
	t.Parallel()
	st := storetest.OpenSQLite(t)
	a, b := startLinked(t, st)
	sub, err := b.Subscribe(t.Context(), "")
	require.NoError(t, err)
	defer sub.Close()

	id := save(t, st)
	a.Publish(nil) // a's commit: b learns of it only through the link
	c, err := next(t, sub)
	require.NoError(t, err)
	require.Equal(t, id, c.Callback.ID)
	require.False(t, c.Trace.IsValid(), "an untraced commit's change carries no trace context")
}

// TestTraceContextReachesEveryReplicasWatchers: a commit published with
// the span of its delivery gives that span to the change on the hub that
// committed it and, through the link, on the other; the untraced change
// committed beside it carries none, on either.
func TestTraceContextReachesEveryReplicasWatchers(t *testing.T) {
	t.Parallel()
	st := storetest.OpenSQLite(t)
	a, b := startLinked(t, st)
	subA, err := a.Subscribe(t.Context(), "")
	require.NoError(t, err)
	defer subA.Close()
	subB, err := b.Subscribe(t.Context(), "")
	require.NoError(t, err)
	defer subB.Close()

	span := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	traced, plain := save(t, st), save(t, st)
	seqs := map[uuid.UUID]int64{}
	for _, c := range changesSoFar(t, st) {
		seqs[c.Callback.ID] = c.Seq
	}
	a.Publish([]callback.SaveResult{{ID: traced, Seq: seqs[traced], Trace: span}, {ID: plain, Seq: seqs[plain]}})
	for name, sub := range map[string]*watch.Subscription{"committing replica": subA, "other replica": subB} {
		first, err := next(t, sub)
		require.NoError(t, err)
		second, err := next(t, sub)
		require.NoError(t, err)
		require.Equal(t, traced, first.Callback.ID, name)
		require.Equal(t, span.TraceID(), first.Trace.TraceID(), name)
		require.Equal(t, span.SpanID(), first.Trace.SpanID(), name)
		require.Equal(t, plain, second.Callback.ID, name)
		require.False(t, second.Trace.IsValid(), name)
	}
}

// changesSoFar reads the whole change feed.
func changesSoFar(t *testing.T, st callback.Store) []callback.Change {
	t.Helper()
	changes, err := st.Changes(t.Context(), 0, 100)
	require.NoError(t, err)
	return changes
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
