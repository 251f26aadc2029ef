package faults_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDiskFullSQLite puts the SQLite data directory on a small tmpfs,
// fills it up with a filler file while callbacks arrive, and frees the
// space again. While the disk is full every answer must be 2xx (only if
// stored: SQLite may still have room in its WAL) or 503, never anything
// else; at least one 503 must be seen; once the filler is gone callbacks
// must be acknowledged again without a restart; afterwards every
// acknowledged callback is stored once and the file passes
// PRAGMA integrity_check.
//
// It needs to mount a tmpfs (root or CAP_SYS_ADMIN) and skips otherwise.
// tmpfs has no real fsync, so this test is about ENOSPC handling, not about
// durability (the crash tests cover that on the real disk).
func TestDiskFullSQLite(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", dataDir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for the disk-full test (needs root or CAP_SYS_ADMIN): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dataDir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dataDir, err, out)
		}
	})
	rng := newRand(t)
	start := time.Now()
	srv := newServer(t, "callbackd", dataDir, "")
	mustStart(t, srv)

	items := newLogicals(rng, 100000, 5)
	s := newSender(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stopNew := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.run(ctx, items, 8, stopNew) })
	if !waitFor(ctx, time.Minute, func() bool { return s.acks.Load() >= 200 }) {
		t.Fatalf("the sender stalled at %d acknowledged deliveries", s.acks.Load())
	}

	filler := filepath.Join(dataDir, "filler")
	fillStart, acksBefore, refusedBefore := time.Now(), s.acks.Load(), s.refused.Load()
	size := fill(t, filler)
	full := waitFor(ctx, 20*time.Second, func() bool { return s.refused.Load()-refusedBefore >= 20 })
	client := &http.Client{Timeout: 5 * time.Second}
	readyFull := readyz(client, srv.URL)
	t.Logf("disk full (filler %d KiB) for %s: %d deliveries acknowledged, %d refused with 503; /readyz answered %d",
		size>>10, time.Since(fillStart).Round(time.Millisecond), s.acks.Load()-acksBefore, s.refused.Load()-refusedBefore, readyFull)
	if !full {
		t.Errorf("fewer than 20 answers 503 within 20 s of the disk filling up")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed, acksFreed := time.Now(), s.acks.Load()
	if waitFor(ctx, 20*time.Second, func() bool { return s.acks.Load() >= acksFreed+100 }) {
		t.Logf("space freed: 100 more deliveries acknowledged within %s, without a restart", time.Since(freed).Round(time.Millisecond))
	} else {
		t.Errorf("fewer than 100 deliveries acknowledged within 20 s of the space being freed\n%s", srv.LogTail(10))
	}
	close(stopNew)
	wg.Wait()

	finishSQLite(t, s, srv, items, start)
}

// fill writes path until the file system is full and returns its size.
func fill(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	var n int64
	for {
		k, err := f.Write(chunk)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("fill %s: %v", path, err)
		}
	}
}
