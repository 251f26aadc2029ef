package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/bench/benchserver"
	"github.com/callbackd/callbackd/internal/webhook"
)

// webhookPath is where the LLM service posts its callbacks.
const webhookPath = "/api/webhooks/llm-callback"

// runResult is what one configuration measured once.
type runResult struct {
	n                    int
	topology             string
	lat2xx, latSend      []time.Duration // every (event, watcher) pair
	lastOfN              []time.Duration // per event: the slowest watcher, from the 2xx
	post                 []time.Duration // POST round trips
	missing              int
	duplicates           int
	streamErrors         int
	openTime             time.Duration
	rssBefore            int64
	rssAfter             int64
	heapBefore           float64 // go_memstats_heap_inuse_bytes; 0 if unknown
	heapAfter            float64
	goroutinesPerWatcher float64       // server goroutines added per watcher
	rssEvents            int64         // after the events
	serverCPU            time.Duration // of the watchers' server while posting
	clientCPU            time.Duration // of this process while posting
	notes                []string
}

// runOnce runs one configuration on a fresh database and fresh servers:
// open n watchers, measure memory, post the events one by one and collect
// who received what when.
func runOnce(ctx context.Context, cfg config, opt serverOptions, tmp string, n int, topology string) (res runResult, err error) {
	res = runResult{n: n, topology: topology}
	db, err := benchserver.CreateDatabase(ctx, cfg.db, cfg.pgURL, tmp, "callbackd_watchbench_")
	if err != nil {
		return res, err
	}
	defer func() {
		if e := db.Drop(); e != nil {
			progress("warning: %v", e)
		}
	}()

	// ingress receives the callbacks; watchers connect to egress. They are
	// the same process on one node, replicas A and B across two.
	ingress, err := startServer(ctx, opt, db, "a")
	if err != nil {
		return res, err
	}
	servers := []*server{ingress}
	defer func() {
		for _, s := range servers {
			if e := s.Stop(); e != nil {
				res.notes = append(res.notes, e.Error())
			}
			if k, first := benchserver.LogSummary(s.LogPath, ""); k > 0 {
				res.notes = append(res.notes, fmt.Sprintf("server logged %d line(s) at warn or above, first: %s", k, first))
			}
		}
	}()
	egress := ingress
	if topology == "replicas" {
		if egress, err = startServer(ctx, opt, db, "b"); err != nil {
			return res, err
		}
		servers = append(servers, egress)
	}

	client := &http.Client{Timeout: 30 * time.Second}
	hookURL := ingress.URL + webhookPath
	// A first callback warms the ingest path (connections, prepared
	// statements) before anything is measured; no watcher sees it.
	if _, _, _, err := post(ctx, client, hookURL, opt.secret); err != nil {
		return res, fmt.Errorf("warm-up callback: %w", err)
	}

	if !benchserver.Sleep(ctx, cfg.settle) {
		return res, ctx.Err()
	}
	if res.rssBefore, err = egress.rss(); err != nil {
		return res, err
	}
	before, _ := egress.metrics(ctx, "go_memstats_heap_inuse_bytes", "go_goroutines")

	start := time.Now()
	p, err := openPool(ctx, egress, cfg.protocol, opt.adminToken, n, cfg.openTimeout)
	if err != nil {
		return res, err
	}
	res.openTime = time.Since(start)
	defer p.stop()

	if !benchserver.Sleep(ctx, cfg.settle) {
		return res, ctx.Err()
	}
	if res.rssAfter, err = egress.rss(); err != nil {
		return res, err
	}
	after, _ := egress.metrics(ctx, "go_memstats_heap_inuse_bytes", "go_goroutines")
	res.heapBefore, res.heapAfter = before["go_memstats_heap_inuse_bytes"], after["go_memstats_heap_inuse_bytes"]
	res.goroutinesPerWatcher = (after["go_goroutines"] - before["go_goroutines"]) / float64(n)

	server0, err := benchserver.ProcessCPU(egress.Pid())
	if err != nil {
		return res, err
	}
	client0 := benchserver.SelfCPU()
	ids := make(map[string]int, cfg.events)
	sent := make([]time.Time, cfg.events)
	acked := make([]time.Time, cfg.events)
	late := 0
	for i := range cfg.events {
		p.expect(int64(i+1) * int64(n))
		id, tSend, t2xx, err := post(ctx, client, hookURL, opt.secret)
		if err != nil {
			return res, fmt.Errorf("callback %d: %w", i+1, err)
		}
		ids[id], sent[i], acked[i] = i, tSend, t2xx
		res.post = append(res.post, t2xx.Sub(tSend))
		if !p.waitDelivered(ctx, cfg.eventTimeout) {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			late++
		}
		if !benchserver.Sleep(ctx, cfg.gap) {
			return res, ctx.Err()
		}
	}
	res.clientCPU = benchserver.SelfCPU() - client0
	server1, err := benchserver.ProcessCPU(egress.Pid())
	if err != nil {
		return res, err
	}
	res.serverCPU = server1 - server0
	if res.rssEvents, err = egress.rss(); err != nil {
		return res, err
	}
	if late > 0 {
		res.notes = append(res.notes, fmt.Sprintf("%d callback(s) not delivered to every watcher within -event-timeout %v", late, cfg.eventTimeout))
	}
	p.stop()

	res.lastOfN = make([]time.Duration, cfg.events)
	seen := make([]bool, cfg.events)
	var firstErr error
	for _, w := range p.watchers {
		if w.err != nil {
			res.streamErrors++
			if firstErr == nil {
				firstErr = w.err
			}
		}
		clear(seen)
		for _, d := range w.got {
			i, ok := ids[d.id]
			if !ok {
				res.notes = append(res.notes, fmt.Sprintf("a watcher received an unknown callback %s", d.id))
				continue
			}
			if seen[i] {
				res.duplicates++
				continue
			}
			seen[i] = true
			l := d.at.Sub(acked[i])
			res.lat2xx = append(res.lat2xx, l)
			res.latSend = append(res.latSend, d.at.Sub(sent[i]))
			res.lastOfN[i] = max(res.lastOfN[i], l)
		}
	}
	res.missing = n*cfg.events - len(res.lat2xx)
	if firstErr != nil {
		res.notes = append(res.notes, fmt.Sprintf("%d stream(s) ended early, first: %v", res.streamErrors, firstErr))
	}
	return res, nil
}

// post sends one new signed workflow.completed callback as the LLM service
// does. It returns the stored id, the time before sending and the time the
// 200 answer arrived; the server answers only after the commit.
func post(ctx context.Context, client *http.Client, url, secret string) (id string, sent, acked time.Time, err error) {
	body, err := webhook.PythonJSON(map[string]any{
		"event":         "workflow.completed",
		"job_id":        uuid.NewString(),
		"status":        "completed",
		"workflow_name": "bench",
		"result":        map[string]any{"summary": "watch fan-out benchmark", "tokens": 1234},
		"timestamp":     time.Now().UTC().Format("2006-01-02T15:04:05.000000") + "+00:00",
	})
	if err != nil {
		return "", sent, acked, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", sent, acked, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", webhook.SignLLM(secret, body))
	sent = time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return "", sent, acked, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	acked = time.Now()
	if err != nil {
		return "", sent, acked, fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", sent, acked, fmt.Errorf("status %d: %s", resp.StatusCode, benchserver.Truncate(string(answer), 300))
	}
	var ack struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	}
	if err := json.Unmarshal(answer, &ack); err != nil || ack.ID == "" || ack.Duplicate {
		return "", sent, acked, errors.New("200 without a new callback's id: " + benchserver.Truncate(string(answer), 300))
	}
	return ack.ID, sent, acked, nil
}
