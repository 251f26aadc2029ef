package faults_test

import (
	"context"
	"testing"
	"time"
)

// TestWatchHeartbeatCursor checks the promise a resuming watcher relies
// on: a heartbeat's cursor never runs ahead of the events already sent on
// its stream. A client keeps the last cursor it received, event or
// heartbeat, and resumes from it after a dropped connection; a heartbeat
// that announced a position before the event at that position was sent
// would make the client skip that event if the connection broke in
// between: a gap. Heartbeats every millisecond during a burst make the
// window, if there is one, show up.
func TestWatchHeartbeatCursor(t *testing.T) {
	rng := newRand(t)
	start := time.Now()
	srv := newServer(t, "callbackd", "", "", "--heartbeat", "1ms")
	mustStart(t, srv)
	w := startWatcher(t, srv.Addr)
	items := newLogicals(rng, envInt(t, "FAULTS_HEARTBEAT_CALLBACKS", 2000), 5)
	s := newSender(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s.run(ctx, items, 64, nil)
	f := figures{Gaps: -1}
	s.fill(&f, items)
	s.checkNoUnexpected(t, items)
	w.checkGaps(t, items, 20*time.Second, &f)
	mustStop(t, srv)
	checkLedger(t, items, readState(t, openSQLiteRO(t, srv.SQLitePath()), false), &f)
	f.Duration = time.Since(start)
	report(t, f)
}
