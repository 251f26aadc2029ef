package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbackd/callbackd/internal/bench/benchserver"
)

// webhookPath is where the LLM service posts its callbacks.
const webhookPath = "/api/webhooks/llm-callback"

// loadClient is the one HTTP client every worker shares.
type loadClient struct {
	*http.Client
}

// newLoadClient returns an HTTP/1.1 keep-alive client that keeps one idle
// connection per worker, so that no request pays for a new connection after
// the warm-up. Its 30 s timeout is the sender's.
func newLoadClient(concurrency int) *loadClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &loadClient{&http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// errorCount counts failed requests of one kind and keeps the first answer
// as an example.
type errorCount struct {
	Count  int    `json:"count"`
	Sample string `json:"sample"`
}

// loadResult is what one load run measured.
type loadResult struct {
	latencies []time.Duration        // of the 200s sent after the warm-up
	acked     int                    // 200s over the whole run, warm-up included: rows expected
	errors    map[string]*errorCount // non-200s and failures over the whole run, by kind
	elapsed   time.Duration          // from the end of the warm-up to the last recorded answer
	exhausted bool                   // the pre-built callbacks ran out before the time did
}

// workerResult is one worker's share of a loadResult, merged at the end so
// that workers never share a lock.
type workerResult struct {
	latencies []time.Duration
	acked     int
	errors    map[string]*errorCount
	last      time.Time
}

// runLoad posts callbacks from cbs, each at most once, from cfg.concurrency
// workers for cfg.warmup + cfg.duration, and waits for the answers in flight.
// In closed loop a worker sends its next request as soon as it has the
// answer; with -rate request i is due at begin + i/rate, and its latency
// counts from that time rather than from when a worker got round to it, so
// that a stalled server cannot hide its stall by slowing the load down.
func runLoad(ctx context.Context, cfg config, client *loadClient, url string, cbs []callback) loadResult {
	var (
		next      atomic.Int64
		exhausted atomic.Bool
		wg        sync.WaitGroup
	)
	begin := time.Now()
	measureFrom := begin.Add(cfg.warmup)
	end := measureFrom.Add(cfg.duration)
	results := make([]workerResult, cfg.concurrency)
	for w := range results {
		res := &results[w]
		res.errors = map[string]*errorCount{}
		wg.Go(func() {
			var body []byte // the worker's body buffer, reused after each 200
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(cbs)) {
					exhausted.Store(true)
					return
				}
				start := time.Now()
				if cfg.rate > 0 {
					start = begin.Add(time.Duration(float64(i) / cfg.rate * float64(time.Second)))
					if !start.Before(end) {
						return
					}
					if !sleepUntil(ctx, start) {
						return
					}
				} else if !start.Before(end) {
					return
				}
				body = cbs[i].appendBody(body[:0])
				kind, sample := post(ctx, client, url, &cbs[i], body)
				done := time.Now()
				if kind == "" {
					res.acked++
				} else {
					// The transport may still be writing a body that the
					// server answered early; it keeps this buffer.
					body = nil
				}
				if kind != "" && ctx.Err() == nil {
					e := res.errors[kind]
					if e == nil {
						e = &errorCount{Sample: sample}
						res.errors[kind] = e
					}
					e.Count++
				}
				if !start.Before(measureFrom) {
					if kind == "" {
						res.latencies = append(res.latencies, done.Sub(start))
					}
					res.last = done
				}
			}
		})
	}
	wg.Wait()

	out := loadResult{errors: map[string]*errorCount{}, exhausted: exhausted.Load()}
	var last time.Time
	for _, r := range results {
		out.latencies = append(out.latencies, r.latencies...)
		out.acked += r.acked
		for k, e := range r.errors {
			if o := out.errors[k]; o != nil {
				o.Count += e.Count
			} else {
				out.errors[k] = e
			}
		}
		if r.last.After(last) {
			last = r.last
		}
	}
	if last.After(measureFrom) {
		out.elapsed = last.Sub(measureFrom)
	}
	return out
}

// sleepUntil waits until t, or returns false if ctx ends first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// post delivers callback c, whose body is body, as the LLM service does. It
// returns "" for a 200 that acknowledges a new callback, and otherwise the
// kind of failure (the status code, "duplicate", "transport") with a sample
// of what was answered.
func post(ctx context.Context, client *loadClient, url string, c *callback, body []byte) (kind, sample string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "request", err.Error()
	}
	req.Header = http.Header{
		"Content-Type":        {"application/json"},
		"X-Webhook-Signature": {c.signature},
		"X-Webhook-Event":     {c.event},
		"User-Agent":          {userAgent},
	}
	resp, err := client.Do(req)
	if err != nil {
		return "transport", err.Error()
	}
	defer resp.Body.Close()
	// Reading to the end lets the connection be reused.
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "transport", "reading the answer: " + err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return strconv.Itoa(resp.StatusCode), benchserver.Truncate(string(answer), 300)
	}
	var ack struct {
		ID         string `json:"id"`
		CallbackID string `json:"callback_id"`
		Duplicate  bool   `json:"duplicate"`
	}
	if err := json.Unmarshal(answer, &ack); err != nil || ack.ID == "" {
		return "200 without an acknowledgement", benchserver.Truncate(string(answer), 300)
	}
	if ack.Duplicate {
		// Every callback posted is distinct; a duplicate means the server
		// merged two different callbacks.
		return "200 duplicate", benchserver.Truncate(string(answer), 300)
	}
	return "", ""
}
