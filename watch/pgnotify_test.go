package watch_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/store/storetest"
	"github.com/callbackd/callbackd/watch"
)

// TestReplicasMergeNotificationsOfABurst publishes a commit every 100 µs
// for 200 ms and counts, on a LISTEN connection of its own, what the other
// replicas would hear: a NOTIFY at most every 5 ms (not one per commit), the
// first one at once, and one after the burst's last commit, so that no
// commit goes unannounced.
func TestReplicasMergeNotificationsOfABurst(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	st := storetest.OpenURL(t, url)
	log := slog.New(slog.DiscardHandler)
	hub, err := watch.NewHub(st, watch.Config{}, log, prometheus.NewRegistry())
	require.NoError(t, err)
	replicas, err := watch.NewReplicas(st.DB(), url, hub, log, prometheus.NewRegistry())
	require.NoError(t, err)

	var (
		mu    sync.Mutex
		heard []time.Time
	)
	other := pq.NewListener(url, 10*time.Millisecond, time.Second, nil)
	t.Cleanup(func() { other.Close() })
	require.NoError(t, other.Listen("callbackd_feed"))
	go func() {
		for n := range other.Notify {
			if n != nil {
				mu.Lock()
				heard = append(heard, time.Now())
				mu.Unlock()
			}
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- replicas.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	time.Sleep(100 * time.Millisecond) // Run's own LISTEN is up

	start := time.Now()
	var last time.Time // just before the last commit's Publish
	commits := 0
	for time.Since(start) < 200*time.Millisecond {
		last = time.Now()
		replicas.Publish(nil)
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
