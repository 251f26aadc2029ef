package faults_test

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestReadOnlyDatabaseSQLite makes the SQLite file unwritable (chattr +i,
// which even root cannot write through; a read-only remount of a file
// system is refused while the server holds the file open for writing, and
// chmod does not stop root) and starts the server on it. Every delivery
// must then be refused with 503, never acknowledged. Once the file is
// writable again, deliveries must be acknowledged again without a restart,
// as after a full disk; readiness must say 503 while the file is read-only
// and 200 again after, by itself. Needs chattr and a file system that supports the
// immutable flag; skips otherwise.
func TestReadOnlyDatabaseSQLite(t *testing.T) {
	dataDir := t.TempDir()
	rng := newRand(t)
	start := time.Now()
	srv := newServer(t, "callbackd", dataDir, "")
	mustStart(t, srv)
	items := newLogicals(rng, 100000, 5)
	s := newSender(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A first batch while writable, so that the file exists and has rows.
	s.run(ctx, items[:200], 8, nil)
	mustStop(t, srv)

	db := filepath.Join(dataDir, "callbackd.db")
	if out, err := exec.Command("chattr", "+i", db).CombinedOutput(); err != nil {
		t.Skipf("cannot make %s immutable: %v: %s", db, err, out)
	}
	immutable := true
	makeWritable := func() {
		if immutable {
			if out, err := exec.Command("chattr", "-i", db).CombinedOutput(); err != nil {
				t.Errorf("chattr -i %s: %v: %s", db, err, out)
			}
			immutable = false
		}
	}
	t.Cleanup(makeWritable) // before TempDir's removal, which would fail on it

	mustStartLive(t, srv) // serves, but must not claim to be ready
	client := &http.Client{Timeout: 5 * time.Second}
	stopNew := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.run(ctx, items[200:], 8, stopNew) })
	acksBefore, refusedBefore := s.acks.Load(), s.refused.Load()
	refused := waitFor(ctx, 20*time.Second, func() bool { return s.refused.Load()-refusedBefore >= 20 })
	ready := readyz(client, srv.URL)
	t.Logf("read-only file: %d deliveries acknowledged, %d refused with 503; /readyz answered %d",
		s.acks.Load()-acksBefore, s.refused.Load()-refusedBefore, ready)
	if !refused {
		t.Errorf("fewer than 20 answers 503 within 20 s on a read-only database")
	}
	if ready != http.StatusServiceUnavailable {
		t.Errorf("/readyz answered %d on a read-only database, want 503", ready)
	}

	makeWritable()
	writable, acksWritable := time.Now(), s.acks.Load()
	if waitFor(ctx, 10*time.Second, func() bool { return s.acks.Load() >= acksWritable+100 }) {
		t.Logf("file writable again: 100 more deliveries acknowledged within %s, without a restart", time.Since(writable).Round(time.Millisecond))
		if !waitFor(ctx, 10*time.Second, func() bool { return readyz(client, srv.URL) == http.StatusOK }) {
			t.Errorf("/readyz did not return to 200 after the file became writable")
		}
	} else {
		t.Errorf("BUG: the file has been writable again for 10 s and still no delivery is acknowledged (%d refused meanwhile): "+
			"the SQLite writer connection, opened read-only because the file was write-protected, is never reopened; "+
			"only a restart recovers. Last log lines:\n%s", s.refused.Load()-refusedBefore, srv.LogTail(3))
		mustStop(t, srv)
		mustStart(t, srv) // so that the sender's retries can complete and the rest is checked
	}
	close(stopNew)
	wg.Wait()

	finishSQLite(t, s, srv, items, start)
}
