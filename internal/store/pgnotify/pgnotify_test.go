package pgnotify_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store/pgnotify"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// listen runs link.Listen until the test ends, calling heard for what it
// hears, and waits until its LISTEN is up.
func listen(t *testing.T, link *pgnotify.Link, heard func([]callback.FeedTrace)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- link.Listen(ctx, heard) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	time.Sleep(100 * time.Millisecond) // Listen's own LISTEN is up
}

// TestLinkMergesNotificationsOfABurst announces a commit every 100 µs for
// 200 ms and counts, on a LISTEN connection of its own, what the other
// replicas would hear: a NOTIFY at most every 5 ms (not one per commit), the
// first one at once, and one after the burst's last commit, so that no
// commit goes unannounced.
func TestLinkMergesNotificationsOfABurst(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	st := storetest.OpenURL(t, url)
	link, err := pgnotify.New(st.DB(), url, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil)
	require.NoError(t, err)

	var (
		mu    sync.Mutex
		heard []time.Time
	)
	other := pq.NewListener(url, 10*time.Millisecond, time.Second, nil)
	t.Cleanup(func() { other.Close() })
	require.NoError(t, other.Listen(pgnotify.Channel))
	go func() {
		for n := range other.Notify {
			if n != nil {
				mu.Lock()
				heard = append(heard, time.Now())
				mu.Unlock()
			}
		}
	}()
	listen(t, link, func([]callback.FeedTrace) {})
	// Warm up: the link's loop runs and its NOTIFYs reach other; then the
	// burst starts on a quiet link.
	require.Eventually(t, func() bool {
		link.Announce(nil)
		mu.Lock()
		defer mu.Unlock()
		return len(heard) > 0
	}, 10*time.Second, 20*time.Millisecond, "the link never sent a NOTIFY")
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	heard = nil
	mu.Unlock()

	start := time.Now()
	var last time.Time // just before the last commit's Announce
	commits := 0
	for time.Since(start) < 200*time.Millisecond {
		last = time.Now()
		link.Announce(nil)
		commits++
		time.Sleep(100 * time.Microsecond)
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(heard) > 0 && heard[len(heard)-1].After(last)
	}, 10*time.Second, 5*time.Millisecond, "the burst's last commit is announced")

	mu.Lock()
	defer mu.Unlock()
	elapsed := heard[len(heard)-1].Sub(start)
	require.LessOrEqual(t, len(heard), int(elapsed/(5*time.Millisecond))+1,
		"%d NOTIFYs in %v for %d commits: more than one per 5 ms", len(heard), elapsed, commits)
	require.Less(t, heard[0].Sub(start), 150*time.Millisecond, "the burst's first commit is announced at once, not after the burst")
}

// TestLinkWakesTheOtherReplica runs two links on one database, as two
// replicas would: b hears nothing until a announces, then hears a's
// announcement.
func TestLinkWakesTheOtherReplica(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	st := storetest.OpenURL(t, url)
	log := slog.New(slog.DiscardHandler)
	a, err := pgnotify.New(st.DB(), url, log, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	b, err := pgnotify.New(st.DB(), url, log, prometheus.NewRegistry(), nil)
	require.NoError(t, err)
	wokeB := make(chan struct{}, 16)
	listen(t, a, func([]callback.FeedTrace) {})
	listen(t, b, func([]callback.FeedTrace) {
		select {
		case wokeB <- struct{}{}:
		default:
		}
	})
	select {
	case <-wokeB:
		t.Fatal("b heard something before anyone announced")
	default:
	}
	// b's LISTEN may come up after a's first NOTIFY on a loaded machine (a
	// NOTIFY reaches only those already listening): announce until heard.
	deadline := time.After(10 * time.Second)
	for {
		a.Announce(nil)
		select {
		case <-wokeB:
			return
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatal("b never heard a's announcements")
		}
	}
}

// TestLinkCarriesTraceContext runs two traced links on one database: the
// trace context a announces reaches b in the notification, position by
// position; with more traced deliveries than a payload holds, b gets a
// bounded prefix of them, never an error or a torn line; and a's NOTIFY and
// b's reception are spans linked to the deliveries.
func TestLinkCarriesTraceContext(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	st := storetest.OpenURL(t, url)
	log := slog.New(slog.DiscardHandler)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	a, err := pgnotify.New(st.DB(), url, log, prometheus.NewRegistry(), tp)
	require.NoError(t, err)
	b, err := pgnotify.New(st.DB(), url, log, prometheus.NewRegistry(), tp)
	require.NoError(t, err)
	heard := make(chan []callback.FeedTrace, 64)
	listen(t, a, func([]callback.FeedTrace) {})
	listen(t, b, func(traces []callback.FeedTrace) {
		if len(traces) > 0 {
			heard <- traces
		}
	})
	span := func(i int) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    trace.TraceID{0x0d, 0xe1, 0x1e, byte(i >> 8), byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
			SpanID:     trace.SpanID{0xfe, 0xed, byte(i >> 8), byte(i), 1, 2, 3, 4},
			TraceFlags: trace.FlagsSampled,
		})
	}
	want := []callback.FeedTrace{{Seq: 41, Span: span(1)}, {Seq: 42, Span: span(2)}}
	var got []callback.FeedTrace
	deadline := time.After(10 * time.Second)
	for got == nil { // b's LISTEN may come up after a's first NOTIFY
		a.Announce(want)
		select {
		case got = <-heard:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("b never heard a's trace context")
		}
	}
	// a coalesces what was announced while its previous NOTIFY was on the
	// way, so on a slow machine the retries above arrive as one payload
	// holding want several times over: each copy must be whole and in order.
	require.NotEmpty(t, got)
	require.Zero(t, len(got)%len(want), "whole copies of what a announced: %v", got)
	for i := range got {
		w := want[i%len(want)]
		require.Equal(t, w.Seq, got[i].Seq)
		require.Equal(t, w.Span.TraceID(), got[i].Span.TraceID())
		require.Equal(t, w.Span.SpanID(), got[i].Span.SpanID())
		require.True(t, got[i].Span.IsSampled())
	}

	var many []callback.FeedTrace
	for i := range 1000 {
		many = append(many, callback.FeedTrace{Seq: int64(1_000_000_000 + i), Span: span(i)})
	}
	a.Announce(many)
	// Skip what the repeated announcements above still had on the way.
	for got = nil; got == nil || got[0].Seq != many[0].Seq; {
		select {
		case got = <-heard:
		case <-time.After(10 * time.Second):
			t.Fatal("b never heard the burst")
		}
	}
	require.NotEmpty(t, got)
	require.Less(t, len(got), len(many), "a payload holds a bounded number")
	for i, tr := range got {
		require.Equal(t, many[i].Seq, tr.Seq)
		require.Equal(t, many[i].Span.TraceID(), tr.Span.TraceID())
	}

	require.NoError(t, tp.ForceFlush(t.Context()))
	linked := func(name string) bool {
		for _, s := range rec.Ended() {
			if s.Name() != name {
				continue
			}
			for _, l := range s.Links() {
				if l.SpanContext.TraceID() == span(1).TraceID() {
					return true
				}
			}
		}
		return false
	}
	require.True(t, linked("callbackd.feed.notify"), "a's NOTIFY is a span linked to the delivery")
	require.True(t, linked("callbackd.feed.heard"), "b's reception is a span linked to the delivery")
}
