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

	"github.com/callbackd/callbackd/internal/store/pgnotify"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// listen runs link.Listen until the test ends, calling heard for what it
// hears, and waits until its LISTEN is up.
func listen(t *testing.T, link *pgnotify.Link, heard func()) {
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
	link, err := pgnotify.New(st.DB(), url, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
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
	listen(t, link, func() {})
	// Warm up: the link's loop runs and its NOTIFYs reach other; then the
	// burst starts on a quiet link.
	require.Eventually(t, func() bool {
		link.Announce()
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
		link.Announce()
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
	a, err := pgnotify.New(st.DB(), url, log, prometheus.NewRegistry())
	require.NoError(t, err)
	b, err := pgnotify.New(st.DB(), url, log, prometheus.NewRegistry())
	require.NoError(t, err)
	wokeB := make(chan struct{}, 16)
	listen(t, a, func() {})
	listen(t, b, func() {
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
		a.Announce()
		select {
		case <-wokeB:
			return
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatal("b never heard a's announcements")
		}
	}
}
