package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/webhook"
)

// TestBuildCallback checks that a body cut around the padding marker is byte
// for byte the sender's serialisation of the payload with the padding in
// place, signed as the sender signs, and of the requested size.
func TestBuildCallback(t *testing.T) {
	t.Parallel()
	const secret = "s3cret"
	cbs, err := buildCallbacks(60, []sizeShare{{2048, 50}, {102400, 50}}, secret, 7)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]int{}
	for i, c := range cbs {
		body := c.appendBody(nil)
		if got := len(body); got != 2048 && got != 102400 {
			t.Errorf("callback %d: size %d", i, got)
		}
		if want := webhook.SignLLM(secret, body); c.signature != want {
			t.Errorf("callback %d: signature %s, want %s", i, c.signature, want)
		}
		var payload map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&payload); err != nil {
			t.Fatalf("callback %d: %v", i, err)
		}
		again, err := webhook.PythonJSON(payload)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, body) {
			t.Errorf("callback %d: body is not the sender's serialisation:\n%s\n%s", i, body, again)
		}
		if payload["event"] != c.event || strings.Contains(string(body), padMarker) {
			t.Errorf("callback %d: event %v, header %s", i, payload["event"], c.event)
		}
		events[c.event]++
	}
	if len(events) != 3 {
		t.Errorf("events %v, want all three", events)
	}
}

// TestPayloadSizeFloor checks that a size below the payload's own length
// yields the bare payload rather than a negative padding.
func TestPayloadSizeFloor(t *testing.T) {
	t.Parallel()
	c, err := buildCallback(rand.New(rand.NewPCG(1, 2)), 0, 10, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if size := len(c.appendBody(nil)); c.pad != "" || size < 100 {
		t.Errorf("pad %q, size %d", c.pad, size)
	}
}

// TestParseSizeMix checks the default mix and the errors.
func TestParseSizeMix(t *testing.T) {
	t.Parallel()
	mix, err := parseSizeMix("2048:98,102400:1.5,1048000:0.5")
	if err != nil || len(mix) != 3 || mix[2] != (sizeShare{1048000, 0.5}) {
		t.Errorf("default mix: %v, %v", mix, err)
	}
	for _, bad := range []string{"", "2048", "2048:50", "0:100", "2048:x", "2000000:100", "2048:101"} {
		if _, err := parseSizeMix(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestPercentile checks nearest-rank percentiles.
func TestPercentile(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 500, 0.99: 990, 0.999: 999, 1: 1000} {
		if got := percentile(d, q); got != want {
			t.Errorf("q %v: %v, want %v", q, got, want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("empty: not 0")
	}
}
