package faults_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/store/storetest"
)

// TestReplicaKilled runs two replicas on one PostgreSQL database, with a
// sender that spreads its callbacks over both and sends each retry to the
// other replica (what a load balancer does when one fails), and a watcher
// connected to replica B. Replica A is killed with SIGKILL in the middle
// of the burst and not restarted. B must keep answering (never anything but
// 2xx or 503), every acknowledged callback must be stored once, and the
// watcher on B must see every acknowledged one, those A stored included.
func TestReplicaKilled(t *testing.T) {
	url := storetest.PostgresURL(t)
	n := envInt(t, "FAULTS_REPLICA_CALLBACKS", 3000)
	rng := newRand(t)
	start := time.Now()
	a := newServer(t, "replica-a", "", url)
	b := newServer(t, "replica-b", "", url)
	mustStart(t, a)
	mustStart(t, b)
	w := startWatcher(t, b.Addr)

	items := newLogicals(rng, n, 5)
	s := newSender(a.URL)
	bases := []string{a.URL, b.URL}
	index := make(map[*logical]int, len(items))
	for i, l := range items {
		index[l] = i
	}
	s.target = func(l *logical, attempt int) string { return bases[(index[l]+attempt)%2] }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { s.run(ctx, items, 64, nil) })

	at := n/4 + rng.IntN(n/2)
	if !waitFor(ctx, time.Minute, func() bool { return int(s.acks.Load()) >= at }) {
		t.Fatalf("the sender stalled at %d acknowledged deliveries", s.acks.Load())
	}
	before := s.acked()
	inFlight := s.inFlight.Load()
	mustKill(t, a)
	t.Logf("SIGKILL replica A at %d acknowledged deliveries (A %d, B %d), %d requests in flight",
		s.acks.Load(), before[a.URL], before[b.URL], inFlight)
	wg.Wait()
	after := s.acked()
	t.Logf("after the kill: B acknowledged %d deliveries, A %d", after[b.URL]-before[b.URL], after[a.URL]-before[a.URL])
	if after[b.URL] <= before[b.URL] {
		t.Errorf("replica B acknowledged nothing after A was killed")
	}

	f := figures{Gaps: -1}
	s.fill(&f, items)
	s.checkNoUnexpected(t, items)
	w.checkGaps(t, items, 20*time.Second, &f)
	mustStop(t, b)
	checkLedger(t, items, readState(t, openPostgres(t, url), true), &f)
	f.Duration = time.Since(start)
	report(t, f)
}
