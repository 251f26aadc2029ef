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
// Why: while ingesting, callbackd's live heap is a few megabytes and each
// callback allocates some 25 KiB (the body, its parse, the database
// driver's buffers). With the default GOGC=100 the collector runs whenever
// the heap has doubled: measured at 2,925 callbacks/s, 33 collections a
// second, each stopping the world twice and scanning every goroutine's
// stack whatever the heap's size; with a 16 MiB floor, 65 collections in a
// run of 282 before, and 211–227 µs of server CPU per callback against
// 238–240 µs. On a machine whose cores the database shares, those pauses
// are among what the slowest requests wait for: with GOGC=500 for the
// whole server, p99 at that rate was 6.2 ms against 10.0 ms (medians of
// five runs; BENCHMARKS.md).
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
