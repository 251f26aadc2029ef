package main

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcFloor keeps the garbage collector's heap goal at floor bytes or above,
// so that a small live heap does not mean a collection every few
// milliseconds.
//
// Why: while ingesting, callbackd's live heap is small and every callback
// allocates several times its body (the body, its parse, the database
// driver's buffers). With the default GOGC the collector then runs
// whenever that small heap has doubled, many times a second, and each
// cycle stops the world and scans every goroutine's stack whatever the
// heap's size. On a machine whose cores the database shares, those pauses
// are among what the slowest requests wait for. BENCHMARKS.md ("Runtime
// tuning") has the measurements and the command that produced them.
//
// While the live heap is below half the floor, GOGC is raised so that the
// goal is the floor; above that it is 100 again, so the memory held beyond
// the live heap is at most max(floor, live heap), as without a floor for
// large heaps. An explicit GOGC in the environment wins: callbackd then
// leaves the collector alone.
type gcFloor struct {
	floor uint64
	every time.Duration // how often the live heap is read
}

// run adjusts GOGC every g.every until ctx ends.
func (g gcFloor) run(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	tick := time.NewTicker(g.every)
	defer tick.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			debug.SetGCPercent(gcPercent(sample[0].Value.Uint64(), g.floor))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// gcPercent is the GOGC that makes the heap goal, live × (1 + GOGC/100), at
// least floor, and never below the default 100.
func gcPercent(live, floor uint64) int {
	if live == 0 || floor <= 2*live {
		return 100
	}
	return int(min(float64(floor)/float64(live)*100-100, math.MaxInt32))
}
