package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// shutdownTimeout is the --shutdown-timeout of the graceful shutdown tests.
const shutdownTimeout = 10 * time.Second

// TestGracefulShutdownSQLite is the graceful shutdown test on SQLite.
func TestGracefulShutdownSQLite(t *testing.T) {
	srv := newServer(t, "callbackd", "", "", "--shutdown-timeout", shutdownTimeout.String())
	shutdownTest(t, srv, false)
}

// TestGracefulShutdownPostgres is the graceful shutdown test on PostgreSQL.
func TestGracefulShutdownPostgres(t *testing.T) {
	url := storetest.PostgresURL(t)
	srv := newServer(t, "callbackd", "", url, "--shutdown-timeout", shutdownTimeout.String())
	shutdownTest(t, srv, true)
}

// shutdownTest sends SIGTERM in the middle of a burst at concurrency 64.
// The process must exit 0 within --shutdown-timeout; every request answered
// meanwhile must be 2xx or 503 (or fail without an answer, which the sender
// retries); and, checked before anything else runs, every delivery
// acknowledged up to the exit must be in the database. The server is then
// restarted so that the sender's retries complete, and everything is
// checked again.
func shutdownTest(t *testing.T, srv *callbackdtest.Server, postgres bool) {
	n := envInt(t, "FAULTS_SHUTDOWN_CALLBACKS", 2000)
	rng := newRand(t)
	start := time.Now()
	mustStart(t, srv)
	items := newLogicals(rng, n, 5)
	s := newSender(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { s.run(ctx, items, 64, nil) })

	at := n/5 + rng.IntN(n/5)
	if !waitFor(ctx, time.Minute, func() bool { return int(s.acks.Load()) >= at }) {
		t.Fatalf("the sender stalled at %d acknowledged deliveries", s.acks.Load())
	}
	var (
		mu       sync.Mutex
		outcomes = make(map[string]int) // requests sent before SIGTERM, and after
	)
	var sigterm time.Time
	s.setObserver(func(status int, err error, started time.Time) {
		k := fmt.Sprint(status)
		if err != nil {
			k = "no answer"
		}
		mu.Lock()
		if started.Before(sigterm) {
			k = "in flight: " + k
		} else {
			k = "later: " + k
		}
		outcomes[k]++
		mu.Unlock()
	})
	mu.Lock()
	sigterm = time.Now()
	mu.Unlock()
	inFlight := s.inFlight.Load()
	code, err := srv.Terminate(shutdownTimeout + 5*time.Second)
	took := time.Since(sigterm)
	if err != nil {
		t.Error(err)
	}
	s.setObserver(nil)
	mu.Lock()
	t.Logf("SIGTERM at %d acknowledged deliveries with %d requests in flight; exit code %d after %s; answers from SIGTERM to exit: %v",
		at, inFlight, code, took.Round(time.Millisecond), outcomes)
	for k := range outcomes {
		_, v, _ := strings.Cut(k, ": ")
		if v != fmt.Sprint(http.StatusOK) && v != fmt.Sprint(http.StatusServiceUnavailable) && v != "no answer" {
			t.Errorf("answer %s during shutdown: want 2xx, 503 or no answer", k)
		}
	}
	mu.Unlock()
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0\n%s", code, srv.LogTail(20))
	}
	if took > shutdownTimeout {
		t.Errorf("exit took %s, more than --shutdown-timeout %s", took, shutdownTimeout)
	}

	// While the server is down no acknowledgement can arrive: whatever was
	// acknowledged so far must already be stored.
	var mid figures
	if postgres {
		checkLedger(t, items, readState(t, openPostgres(t, srv.DatabaseURL), true), &mid)
	} else {
		checkLedger(t, items, readState(t, openSQLiteRO(t, srv.SQLitePath()), false), &mid)
	}
	t.Logf("at exit: %d rows stored, %d acknowledged callbacks lost", mid.Stored, mid.Lost)

	mustStart(t, srv)
	wg.Wait()
	f := figures{Gaps: -1}
	s.fill(&f, items)
	s.checkNoUnexpected(t, items)
	mustStop(t, srv)
	if postgres {
		checkLedger(t, items, readState(t, openPostgres(t, srv.DatabaseURL), true), &f)
	} else {
		checkLedger(t, items, readState(t, openSQLiteRO(t, srv.SQLitePath()), false), &f)
	}
	f.Lost += mid.Lost
	f.Duration = time.Since(start)
	report(t, f)
}
