package watch_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/watch"
)

// startHub runs a hub over a fresh SQLite store until the test ends.
func startHub(t *testing.T, cfg watch.Config) (*watch.Hub, callback.Store) {
	t.Helper()
	st := storetest.OpenSQLite(t)
	hub, err := watch.NewHub(st, cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, hub.Start(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return hub, st
}

// save stores one new callback and returns its id.
func save(t *testing.T, st callback.Store) uuid.UUID {
	t.Helper()
	job := uuid.NewString()
	res, err := st.Save(t.Context(), []callback.Delivery{{
		Key: job + ":workflow.completed", EventType: "workflow.completed", KnownEvent: true,
		Status: callback.StatusProcessed, ExternalJobID: job, Payload: []byte(`{}`),
		ReceivedAt: time.Now(), Signature: callback.Signature{Valid: true, Scheme: "llm-hmac-sha256", VerifiedAt: time.Now()},
	}})
	require.NoError(t, err)
	return res[0].ID
}

// next reads one change with a deadline.
func next(t *testing.T, s *watch.Subscription) (callback.Change, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return s.Next(ctx)
}

// TestSlowWatcherCatchesUpFromTheDatabase: a watcher that stops reading
// holds nothing and slows no one; a reading watcher gets every change as it
// comes; when the slow one reads again, the ring (4 changes) has moved on,
// and it gets all 20 in order from the database, then live ones again.
func TestSlowWatcherCatchesUpFromTheDatabase(t *testing.T) {
	t.Parallel()
	hub, st := startHub(t, watch.Config{Buffer: 4, PollInterval: time.Hour})
	fast, err := hub.Subscribe(t.Context(), "")
	require.NoError(t, err)
	defer fast.Close()
	slow, err := hub.Subscribe(t.Context(), "")
	require.NoError(t, err)
	defer slow.Close()

	var ids []uuid.UUID
	for range 20 {
		ids = append(ids, save(t, st))
		hub.Poke()
		c, err := next(t, fast)
		require.NoError(t, err)
		require.Equal(t, ids[len(ids)-1], c.Callback.ID)
	}

	var got []uuid.UUID
	for range ids {
		c, err := next(t, slow)
		require.NoError(t, err)
		got = append(got, c.Callback.ID)
	}
	require.Equal(t, ids, got, "nothing lost, nothing repeated")
	live := save(t, st)
	hub.Poke()
	c, err := next(t, slow)
	require.NoError(t, err)
	require.Equal(t, live, c.Callback.ID)
}

// TestStoppedHubEndsSubscriptions: subscribers learn that the server stops.
func TestStoppedHubEndsSubscriptions(t *testing.T) {
	t.Parallel()
	st := storetest.OpenSQLite(t)
	hub, err := watch.NewHub(st, watch.Config{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, hub.Start(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	sub, err := hub.Subscribe(t.Context(), "")
	require.NoError(t, err)
	cancel()
	require.NoError(t, <-done)
	_, err = next(t, sub)
	require.ErrorIs(t, err, watch.ErrStopped)
}

// TestLostNotificationOnlyDelaysEvents: without any poke (as when a replica
// crashes between commit and NOTIFY), the periodic read still delivers.
func TestLostNotificationOnlyDelaysEvents(t *testing.T) {
	t.Parallel()
	hub, st := startHub(t, watch.Config{PollInterval: 20 * time.Millisecond})
	sub, err := hub.Subscribe(t.Context(), "")
	require.NoError(t, err)
	defer sub.Close()
	id := save(t, st) // no Poke
	c, err := next(t, sub)
	require.NoError(t, err)
	require.Equal(t, id, c.Callback.ID)
	require.Equal(t, callback.ChangeReceived, c.Kind)
}

// TestResumeReplaysThenContinuesLive: a cursor from before a burst replays
// the burst from the database, then live events follow with no duplicate at
// the seam, even when the hub fans out while the replay is in progress.
func TestResumeReplaysThenContinuesLive(t *testing.T) {
	t.Parallel()
	hub, st := startHub(t, watch.Config{PollInterval: time.Hour})
	start := hub.Position()
	var ids []uuid.UUID
	for range 30 {
		ids = append(ids, save(t, st))
	}
	hub.Poke() // the hub moves past the burst before the subscriber reads
	sub, err := hub.Subscribe(t.Context(), start)
	require.NoError(t, err)
	defer sub.Close()
	for range 5 {
		ids = append(ids, save(t, st))
		hub.Poke()
	}
	var got []uuid.UUID
	for range ids {
		c, err := next(t, sub)
		require.NoError(t, err)
		got = append(got, c.Callback.ID)
	}
	require.Equal(t, ids, got)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = sub.Next(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "no duplicate after the last event")
}

func TestCursors(t *testing.T) {
	t.Parallel()
	hub, st := startHub(t, watch.Config{PollInterval: time.Hour})
	for _, bad := range []string{"x", "c1.", "c1.-1", "c2.5", "c1.zzzzzzzzzzzzzzzzzzz"} {
		_, err := hub.Subscribe(t.Context(), bad)
		require.ErrorIs(t, err, watch.ErrInvalidCursor, bad)
	}
	_, err := hub.Subscribe(t.Context(), watch.FormatCursor(1000))
	require.ErrorIs(t, err, watch.ErrInvalidCursor, "a cursor past the end of the feed")
	save(t, st)
	for seq := range int64(100) {
		got, err := watch.ParseCursor(watch.FormatCursor(seq))
		require.NoError(t, err)
		require.Equal(t, seq, got, fmt.Sprint(seq))
	}
}

// countingFeed counts the hub's reads of the change feed.
type countingFeed struct {
	watch.Feed
	reads atomic.Int64
}

func (f *countingFeed) Changes(ctx context.Context, after int64, limit int) ([]callback.Change, error) {
	f.reads.Add(1)
	return f.Feed.Changes(ctx, after, limit)
}

// TestIdleHubReadsNothing: with no subscriber, commits and ticks cost the
// database nothing; the first subscriber starts at the end of the feed
// (nothing from before it, everything after it), and a cursor from before
// the idle time still replays every change in order.
func TestIdleHubReadsNothing(t *testing.T) {
	t.Parallel()
	st := storetest.OpenSQLite(t)
	feed := &countingFeed{Feed: st}
	hub, err := watch.NewHub(feed, watch.Config{PollInterval: 5 * time.Millisecond}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, hub.Start(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	start := hub.Position()
	var before []uuid.UUID
	for range 10 {
		before = append(before, save(t, st))
		hub.Poke()
	}
	time.Sleep(50 * time.Millisecond) // ten poll ticks
	require.Zero(t, feed.reads.Load(), "no subscriber, no reads")

	live, err := hub.Subscribe(t.Context(), "")
	require.NoError(t, err)
	defer live.Close()
	require.Equal(t, watch.FormatCursor(10), live.Cursor(), "starts at the end of the feed")
	after := save(t, st)
	hub.Poke()
	c, err := next(t, live)
	require.NoError(t, err)
	require.Equal(t, after, c.Callback.ID, "the first change after subscribing, none from before")

	old, err := hub.Subscribe(t.Context(), start)
	require.NoError(t, err)
	defer old.Close()
	var got []uuid.UUID
	for range 11 {
		c, err := next(t, old)
		require.NoError(t, err)
		got = append(got, c.Callback.ID)
	}
	require.Equal(t, append(before, after), got)
}
