package callbackclient

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	for attempt, ceiling := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		ceiling *= time.Millisecond
		for range 100 {
			d := b.delay(attempt)
			if d < ceiling/2 || d > ceiling {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, ceiling/2, ceiling)
			}
		}
	}
	if d := b.delay(1 << 20); d > time.Second {
		t.Fatalf("a huge attempt count gives %s, above the maximum", d)
	}
	if d := (backoff{}).delay(0); d < DefaultMinBackoff/2 || d > DefaultMinBackoff {
		t.Fatalf("zero backoff: delay %s, want about %s", d, DefaultMinBackoff)
	}
}
