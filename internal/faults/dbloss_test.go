package faults_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/store/storetest"
)

// TestDatabaseConnectionLoss runs PostgreSQL through a TCP proxy and, while
// callbacks and a watcher run, first terminates the test database's
// backends repeatedly (pg_terminate_backend: what the server's connections
// see when PostgreSQL restarts or an administrator kills them), then takes
// the proxy down for a while (every connection cut, new ones refused: a
// database that is unreachable or restarting) and brings it back. The
// PostgreSQL server itself is never restarted: other packages' tests use it
// at the same time.
//
// Every answer must be 2xx or 503 (callbackd itself stays up, so there is
// no connection error either); /readyz must answer 503 while the database
// is unreachable and 200 again by itself afterwards; nothing acknowledged
// may be lost; the watcher must see every acknowledged callback.
func TestDatabaseConnectionLoss(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	proxy := startProxy(t, u.Host)
	u.Host = proxy.addr
	rng := newRand(t)
	start := time.Now()
	srv := newServer(t, "callbackd", "", u.String())
	mustStart(t, srv)
	w := startWatcher(t, srv.Addr)

	items := newLogicals(rng, 100000, 5)
	s := newSender(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stopNew := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.run(ctx, items, 32, stopNew) })

	// Readiness, polled all along.
	var (
		readyMu  sync.Mutex
		statuses = make(map[int]int)
		lastCode int
	)
	pollCtx, stopPoll := context.WithCancel(ctx)
	var pollWG sync.WaitGroup
	pollWG.Go(func() {
		client := &http.Client{Timeout: 5 * time.Second}
		for pollCtx.Err() == nil {
			code := readyz(client, srv.URL)
			readyMu.Lock()
			statuses[code]++
			lastCode = code
			readyMu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	})
	ready := func() int {
		readyMu.Lock()
		defer readyMu.Unlock()
		return lastCode
	}

	admin := openPostgres(t, adminURL())
	if !waitFor(ctx, time.Minute, func() bool { return s.acks.Load() >= 300 }) {
		t.Fatalf("the sender stalled at %d acknowledged deliveries", s.acks.Load())
	}
	// Phase 1: backends terminated under load.
	terminated, refusedBefore := 0, s.refused.Load()
	for range 6 {
		var k int
		err := admin.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid()`, dbName).Scan(&k)
		if err != nil {
			t.Fatalf("terminate backends: %v", err)
		}
		terminated += k
		time.Sleep(time.Duration(200+rng.IntN(200)) * time.Millisecond)
	}
	t.Logf("phase 1: terminated %d backends in 6 rounds; %d deliveries acknowledged so far, %d refused with 503 in this phase",
		terminated, s.acks.Load(), s.refused.Load()-refusedBefore)
	time.Sleep(500 * time.Millisecond)

	// Phase 2: the database unreachable for two seconds.
	readyMu.Lock()
	before503 := statuses[http.StatusServiceUnavailable]
	readyMu.Unlock()
	outageStart, acksBefore, refusedBefore := time.Now(), s.acks.Load(), s.refused.Load()
	proxy.down()
	sawDown := waitFor(ctx, 5*time.Second, func() bool { return ready() == http.StatusServiceUnavailable })
	time.Sleep(2*time.Second - time.Since(outageStart))
	proxy.up()
	upAt := time.Now()
	t.Logf("phase 2: database unreachable for %s; meanwhile %d deliveries acknowledged, %d refused with 503",
		upAt.Sub(outageStart).Round(time.Millisecond), s.acks.Load()-acksBefore, s.refused.Load()-refusedBefore)
	if !sawDown {
		t.Errorf("/readyz never answered 503 while the database was unreachable")
	}
	if waitFor(ctx, 15*time.Second, func() bool { return ready() == http.StatusOK }) {
		t.Logf("/readyz back to 200 %s after the database came back", time.Since(upAt).Round(10*time.Millisecond))
	} else {
		t.Errorf("/readyz did not return to 200 within 15 s of the database coming back")
	}
	acksAfterUp := s.acks.Load()
	time.Sleep(time.Second)
	if s.acks.Load() == acksAfterUp {
		t.Errorf("no delivery acknowledged in the second after readiness returned")
	}
	close(stopNew)
	wg.Wait()
	stopPoll()
	pollWG.Wait()
	readyMu.Lock()
	t.Logf("/readyz answers: %v (503s during the outage: %d)", statuses, statuses[http.StatusServiceUnavailable]-before503)
	for code, k := range statuses {
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("/readyz answered %d %d times (0: no answer); want 200 or 503", code, k)
		}
	}
	readyMu.Unlock()

	f := figures{Gaps: -1}
	s.fill(&f, items)
	s.checkNoUnexpected(t, items[:f.Sent])
	if f.ConnErrors > 0 {
		t.Errorf("%d requests got no answer: callbackd stayed up and must answer 2xx or 503", f.ConnErrors)
	}
	if f.Refused == 0 {
		t.Errorf("no 503 at all: the faults did not reach the ingest path")
	}
	w.checkGaps(t, items, 20*time.Second, &f)
	mustStop(t, srv)
	checkLedger(t, items, readState(t, openPostgres(t, dbURL), true), &f)
	f.Duration = time.Since(start)
	report(t, f)
}

// adminURL is the maintenance database the tests create their databases
// from (the `test` database by default), used to terminate backends.
func adminURL() string {
	if v := os.Getenv(storetest.PostgresEnv); v != "" {
		return v
	}
	return storetest.DefaultPostgresURL
}
