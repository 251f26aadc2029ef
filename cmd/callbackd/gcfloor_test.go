package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercent(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, tc := range []struct {
		live, floor uint64
		want        int
	}{
		{live: 2 * mib, floor: 16 * mib, want: 700},  // goal 2 × 8 = 16 MiB
		{live: 3 * mib, floor: 16 * mib, want: 433},  // goal 3 × 5.33 = 16 MiB
		{live: 8 * mib, floor: 16 * mib, want: 100},  // the default already reaches the floor
		{live: 64 * mib, floor: 16 * mib, want: 100}, // a large heap is collected as without a floor
		{live: 0, floor: 16 * mib, want: 100},        // nothing measured yet
		{live: 1, floor: 1 << 62, want: 1<<31 - 1},   // capped, not overflowed
		{live: 3, floor: 1<<63 - 1, want: 1<<31 - 1}, // floor × 100 would overflow
	} {
		if got := gcPercent(tc.live, tc.floor); got != tc.want {
			t.Errorf("gcPercent(%d, %d) = %d, want %d", tc.live, tc.floor, got, tc.want)
		}
	}
}

// TestGCFloorRaisesGOGC runs the floor on this test process, whose live heap
// is far below 1 GiB, and reads the collector's setting back.
func TestGCFloorRaisesGOGC(t *testing.T) {
	// Not parallel: GOGC is the process's.
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	runtime.GC() // the live heap is known after a collection
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		gcFloor{floor: 1 << 30, every: 10 * time.Millisecond}.run(ctx)
	}()
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		metrics.Read(sample)
		if sample[0].Value.Uint64() > 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d after 10 s, want the 1 GiB floor to raise it above 1000", sample[0].Value.Uint64())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
