package faults_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// defaultCrashCallbacks is the number of distinct logical callbacks of one
// crash test run in `go test` (the figure); FAULTS_CALLBACKS raises
// it for the long run (see RELIABILITY.md).
const defaultCrashCallbacks = 10000

// TestCrashSQLite is the crash test on the embedded SQLite database.
func TestCrashSQLite(t *testing.T) {
	srv := newServer(t, "callbackd", "", "")
	crashTest(t, srv, false)
}

// TestCrashPostgres is the crash test on PostgreSQL.
func TestCrashPostgres(t *testing.T) {
	url := storetest.PostgresURL(t)
	srv := newServer(t, "callbackd", "", url)
	crashTest(t, srv, true)
}

// crashTest posts FAULTS_CALLBACKS distinct logical callbacks (about 5 % of
// them redelivered once or twice after their acknowledgement) at
// concurrency 64 with a retrying sender, SIGKILLs the server FAULTS_KILLS
// times at random points of the run and restarts it on the same data each
// time, while a watcher follows the change feed across the restarts. Then
// it stops the server and checks every acknowledged callback against the
// database and the watcher.
func crashTest(t *testing.T, srv *callbackdtest.Server, postgres bool) {
	n := envInt(t, "FAULTS_CALLBACKS", defaultCrashCallbacks)
	kills := envInt(t, "FAULTS_KILLS", 3)
	rng := newRand(t)
	start := time.Now()
	mustStart(t, srv)
	w := startWatcher(t, srv.Addr)
	items := newLogicals(rng, n, 5)
	total := 0
	for _, l := range items {
		total += 1 + l.redeliveries
	}
	// Kill when the acknowledged deliveries reach random points between 10 %
	// and 90 % of the run, at least 5 % apart so that the server has time to
	// take load between kills.
	var points []int
	for len(points) < kills {
		p := total/10 + rng.IntN(total*8/10)
		if !slices.ContainsFunc(points, func(q int) bool { return abs(p-q) < total/20 }) {
			points = append(points, p)
		}
	}
	slices.Sort(points)

	s := newSender(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { s.run(ctx, items, 64, nil) })
	killed := 0
	for _, p := range points {
		if !waitFor(ctx, 2*time.Minute, func() bool { return int(s.acks.Load()) >= p }) {
			t.Fatalf("the sender stalled at %d acknowledged deliveries before kill %d", s.acks.Load(), killed+1)
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		inFlight := s.inFlight.Load()
		mustKill(t, srv)
		killed++
		t.Logf("SIGKILL %d at %d acknowledged deliveries, %d requests in flight", killed, s.acks.Load(), inFlight)
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		mustStart(t, srv)
	}
	wg.Wait()
	f := figures{Gaps: -1}
	s.fill(&f, items)
	s.checkNoUnexpected(t, items)
	w.checkGaps(t, items, 20*time.Second, &f)
	mustStop(t, srv)

	var st dbState
	if postgres {
		st = readState(t, openPostgres(t, srv.DatabaseURL), true)
	} else {
		st = readState(t, openSQLiteRO(t, srv.SQLitePath()), false)
	}
	checkLedger(t, items, st, &f)
	f.Duration = time.Since(start)
	if killed < 3 && kills >= 3 {
		t.Errorf("killed %d times, want at least 3", killed)
	}
	t.Logf("server started %d times, killed %d times", srv.Starts(), killed)
	report(t, f)
}

// abs is the absolute value of x.
func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
