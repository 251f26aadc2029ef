package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/webhook"
)

// userAgent is what the LLM service sends: "<service title>/<version>".
const userAgent = "LLM Job Service/1.0.0"

// padMarker stands in for the padding string while a payload is serialised;
// the body is then cut around it. The padding is plain ASCII that
// json.dumps writes unchanged, so head + padding + tail is byte for byte
// what the sender would produce with the padding in place.
const padMarker = "@@ingestload-padding@@"

// padding is shared by every body: a body is head + padding[:n] + tail, so a
// pool of 200,000 callbacks with some 1 MiB bodies costs tens of megabytes,
// not gigabytes, while each body on the wire is still distinct.
var padding = makePadding(1 << 20)

// callback is one pre-built, pre-signed delivery of a distinct logical
// callback (its own job_id).
type callback struct {
	event     string
	head      []byte
	pad       string // a prefix of padding
	tail      []byte
	signature string // X-Webhook-Signature
}

// appendBody appends the body to buf. Posting a body from one contiguous
// buffer matters: net/http writes a *bytes.Reader body together with the
// headers (one write for a 2 KB callback, as a sender that has its body in
// memory does), but flushes the headers first for any other reader, and an
// io.MultiReader of the three parts then cost four writes and a 32 KiB copy
// buffer per request.
func (c *callback) appendBody(buf []byte) []byte {
	return append(append(append(buf, c.head...), c.pad...), c.tail...)
}

// sizeShare is one entry of -size-mix: bodies of Bytes bytes make Percent %
// of the callbacks.
type sizeShare struct {
	Bytes   int     `json:"bytes"`
	Percent float64 `json:"percent"`
}

// parseSizeMix parses "bytes:percent,..." whose percentages add up to 100.
func parseSizeMix(s string) ([]sizeShare, error) {
	var (
		mix   []sizeShare
		total float64
	)
	for part := range strings.SplitSeq(s, ",") {
		b, p, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("%q: want bytes:percent", part)
		}
		n, err := strconv.Atoi(b)
		if err != nil || n < 1 || n > len(padding) {
			return nil, fmt.Errorf("%q: bytes must be 1..%d", part, len(padding))
		}
		pct, err := strconv.ParseFloat(p, 64)
		if err != nil || pct <= 0 || pct > 100 {
			return nil, fmt.Errorf("%q: percent must be more than 0 and at most 100", part)
		}
		mix = append(mix, sizeShare{Bytes: n, Percent: pct})
		total += pct
	}
	if total < 99.999 || total > 100.001 {
		return nil, fmt.Errorf("percentages add up to %g, want 100", total)
	}
	return mix, nil
}

// buildCallbacks builds and signs n distinct callbacks on all CPUs. The event
// and size of callback i depend only on seed and i, so every mode and every
// repeat posts the same mix in the same order.
func buildCallbacks(n int, mix []sizeShare, secret string, seed uint64) ([]callback, error) {
	cbs := make([]callback, n)
	now := time.Now().UTC()
	workers := runtime.NumCPU()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var buf []byte // one scratch body per worker, for signing
			for i := w; i < n; i += workers {
				rng := rand.New(rand.NewPCG(seed, uint64(i)))
				c, err := buildCallback(rng, i, pickSize(rng, mix), now.Add(time.Duration(i)*time.Microsecond))
				if err != nil {
					errs[w] = fmt.Errorf("build callback %d: %w", i, err)
					return
				}
				buf = c.appendBody(buf[:0])
				c.signature = webhook.SignLLM(secret, buf)
				cbs[i] = c
			}
		})
	}
	wg.Wait()
	return cbs, errors.Join(errs...)
}

// pickSize draws a body size from the mix.
func pickSize(rng *rand.Rand, mix []sizeShare) int {
	x := rng.Float64() * 100
	for _, s := range mix {
		if x < s.Percent {
			return s.Bytes
		}
		x -= s.Percent
	}
	return mix[len(mix)-1].Bytes
}

// buildCallback serialises one payload as the sender does and cuts it around
// the padding so that the body is size bytes long (or as short as the
// payload allows).
func buildCallback(rng *rand.Rand, i int, size int, ts time.Time) (callback, error) {
	event, payload := payloadFor(rng, i, ts)
	body, err := webhook.PythonJSON(payload)
	if err != nil {
		return callback{}, err
	}
	head, tail, ok := bytes.Cut(body, []byte(padMarker))
	if !ok {
		return callback{}, errors.New("padding marker missing from the serialised payload")
	}
	n := min(max(size-len(head)-len(tail), 0), len(padding))
	return callback{event: event, head: head, pad: padding[:n], tail: tail}, nil
}

// payloadFor returns a realistic payload of the LLM service (SPEC, "The
// sender's wire format") with padMarker where the padding goes: in the
// result's text for completed workflows and steps, in the error's traceback
// for failed workflows (which carry no result). Six in ten are
// workflow.completed, three llm.step.completed, one workflow.failed.
func payloadFor(rng *rand.Rand, i int, ts time.Time) (string, map[string]any) {
	workflows := []string{"summarize_document", "extract_entities", "translate_batch", "classify_tickets"}
	models := []string{"gpt-4o-mini", "claude-3-5-haiku", "llama-3.1-70b"}
	workflow := workflows[rng.IntN(len(workflows))]
	jobID := uuid.NewString()
	// The sender writes isoformat() + "Z" of an aware datetime.
	stamp := ts.Format("2006-01-02T15:04:05.000000") + "+00:00Z"
	durationMS := 200 + rng.IntN(30_000)

	switch k := rng.IntN(10); {
	case k < 6:
		var (
			calls  []any
			tokens int
			cost   float64
		)
		for s := range 1 + rng.IntN(4) {
			in, out := 200+rng.IntN(4000), 50+rng.IntN(1500)
			c := float64(in+3*out) * 0.15 / 1e6
			calls = append(calls, map[string]any{
				"step_id":           fmt.Sprintf("step-%d", s+1),
				"model":             models[rng.IntN(len(models))],
				"prompt_tokens":     in,
				"completion_tokens": out,
				"cost_usd":          c,
				"latency_ms":        100 + rng.IntN(5000),
			})
			tokens += in + out
			cost += c
		}
		return "workflow.completed", map[string]any{
			"event":         "workflow.completed",
			"job_id":        jobID,
			"status":        "completed",
			"workflow_name": workflow,
			"result": map[string]any{
				"title":      "Résumé of document " + strconv.Itoa(i),
				"language":   "en",
				"confidence": 0.5 + rng.Float64()/2,
				"labels":     []any{"invoice", "customer", "priority:" + strconv.Itoa(rng.IntN(5))},
				"text":       padMarker,
			},
			"cost_data": map[string]any{
				"total_tokens": tokens,
				"cost_usd":     cost,
				"llm_calls":    calls,
			},
			"duration_ms": durationMS,
			"timestamp":   stamp,
		}
	case k < 9:
		in, out := 200+rng.IntN(4000), 50+rng.IntN(1500)
		step := map[string]any{
			"event":         "llm.step.completed",
			"job_id":        jobID,
			"workflow_name": workflow,
			"step_id":       fmt.Sprintf("step-%d-%d", i, rng.IntN(8)+1),
			"result":        map[string]any{"finish_reason": "stop", "text": padMarker},
			"tokens":        map[string]any{"prompt": in, "completion": out, "total": in + out},
			"cost_usd":      float64(in+3*out) * 0.15 / 1e6,
			"duration_ms":   durationMS,
			"timestamp":     stamp,
		}
		if rng.IntN(2) == 0 {
			step["debug"] = map[string]any{
				"prompt":      "Summarise the following text in three bullet points.",
				"model":       models[rng.IntN(len(models))],
				"temperature": 0.2,
			}
		}
		return "llm.step.completed", step
	default:
		msg := "LLM provider returned 429: rate limit exceeded"
		created := ts.Add(-time.Duration(durationMS) * time.Millisecond)
		return "workflow.failed", map[string]any{
			"event":         "workflow.failed",
			"job_id":        jobID,
			"status":        "failed",
			"workflow_name": workflow,
			"error_message": msg,
			"error": map[string]any{
				"type":      "RateLimitError",
				"category":  "provider",
				"retryable": true,
				"message":   msg,
				"traceback": padMarker,
			},
			"duration_ms": durationMS,
			"created_at":  created.Format("2006-01-02T15:04:05.000000") + "+00:00",
			"timestamp":   stamp,
		}
	}
}

// makePadding returns n bytes of lorem-ipsum-like ASCII text that JSON
// writes without escapes.
func makePadding(n int) string {
	const words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua "
	return strings.Repeat(words, n/len(words)+1)[:n]
}
