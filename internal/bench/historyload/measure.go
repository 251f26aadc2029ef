package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"connectrpc.com/connect"

	callbackclient "github.com/callbackd/callbackd/clients/go"
	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/bench/benchserver"
	"github.com/callbackd/callbackd/internal/webhook"
)

// listGoal is the goal of a first page of ListCallbacks (p99).
const listGoal = 20 * time.Millisecond

// deepPageFactor is the goal of a deep page: its p99 within this factor of
// page 1's.
const deepPageFactor = 1.5

// measure starts callbackd on db, runs the ingest load beside it and times
// the goal table's queries, into rep.
func measure(ctx context.Context, cfg config, bin string, db *Database, h History, rep *report) error {
	secret, token, markToken := benchserver.RandomHex(32), benchserver.RandomHex(32), benchserver.RandomHex(32)
	// MarkAllViewed is asked by an admin of its own, new on every run, who
	// has viewed nothing: each call marks every callback of its window.
	marker := "marker-" + benchserver.RandomHex(4)
	srv, err := callbackdtest.Start(ctx, callbackdtest.Options{
		Binary:        bin,
		DataDir:       db.Dir,
		DatabaseURL:   db.URL,
		LogPath:       filepath.Join(db.Dir, "server.log"),
		WebhookSecret: "bench=" + secret,
		AdminToken:    "bench=" + token + "," + marker + "=" + markToken,
		StartTimeout:  5 * time.Minute, // a large SQLite file is checked at start
		SysProcAttr:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			rep.Notes = append(rep.Notes, "stopping the server: "+err.Error())
		}
		if n, first := benchserver.LogSummary(srv.LogPath, "default webhook secret"); n > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("server logged %d line(s) at warn or above, first: %s", n, first))
		}
	}()
	if rep.Rows, err = countCallbacks(ctx, db); err != nil {
		return err
	}
	client, err := callbackclient.New(srv.URL, callbackclient.Options{Protocol: callbackclient.ProtocolConnect, Token: token})
	if err != nil {
		return err
	}
	defer client.Close()
	admin, httpClient, err := callbackclient.NewConnectClient(srv.URL, callbackclient.Options{Protocol: callbackclient.ProtocolConnect, Token: token})
	if err != nil {
		return err
	}
	defer httpClient.CloseIdleConnections()
	markAdmin, markHTTP, err := callbackclient.NewConnectClient(srv.URL, callbackclient.Options{Protocol: callbackclient.ProtocolConnect, Token: markToken})
	if err != nil {
		return err
	}
	defer markHTTP.CloseIdleConnections()

	load := startIngest(ctx, cfg.rate, srv.URL, secret)
	defer load.stop()
	if cfg.warmup > 0 {
		// A server just started has cold caches, an empty connection pool
		// and a heap still growing: measured then, the baseline would be
		// slower than the phases it is the yardstick of.
		progress("ingest warm-up: %v at %g req/s, not compared", cfg.warmup, cfg.rate)
		load.phase(warmupPhase)
		if !benchserver.Sleep(ctx, cfg.warmup) {
			return ctx.Err()
		}
	}
	progress("ingest baseline: %v at %g req/s", cfg.baseline, cfg.rate)
	load.phase(baselinePhase)
	if !benchserver.Sleep(ctx, cfg.baseline) {
		return ctx.Err()
	}

	m := &measurer{client: client, admin: admin, rep: rep}
	if cfg.phases["first"] {
		load.phase("first pages of ListCallbacks")
		progress("first pages, %d runs each", cfg.runs)
		m.firstPages(ctx, cfg, h)
	}
	if cfg.phases["deep"] {
		load.phase("deep pages of ListCallbacks")
		progress("page 1 against page %d", cfg.pages)
		m.deepPages(ctx, cfg)
	}
	if cfg.phases["search"] {
		load.phase("search, counts and statistics")
		progress("search, counts and statistics, %d runs each", cfg.runs)
		m.searchCountsStats(ctx, cfg, h)
	}
	if cfg.phases["badge"] {
		load.phase("unviewed badge")
		progress("the unviewed badge, %d runs", cfg.runs)
		m.badge(ctx, cfg)
	}
	if cfg.phases["mark"] {
		load.phase("MarkAllViewed")
		progress("MarkAllViewed of %d callbacks, %d times", cfg.markRows, cfg.markRuns)
		m.markAllViewed(ctx, cfg, h, markAdmin)
		m.holdForIngest(ctx, load, "MarkAllViewed")
	}
	if cfg.phases["prune"] {
		load.phase("retention pruning")
		progress("retention pruning the oldest %d callbacks", cfg.pruneRows)
		m.prune(ctx, cfg, bin, db, h, secret)
		m.holdForIngest(ctx, load, "retention pruning")
	}
	load.phase("")
	load.stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rep.Ingest = load.phases()
	if i := slices.IndexFunc(rep.Ingest, func(p ingestPhase) bool { return p.Phase == baselinePhase }); i >= 0 {
		base := rep.Ingest[i]
		for _, p := range rep.Ingest[i+1:] {
			var name string
			switch {
			case p.Phase == "MarkAllViewed" && !m.errs[markName(cfg)]:
				name = "ingest p99 during MarkAllViewed"
			case p.Phase == "retention pruning" && !m.errs[pruneName(cfg)]:
				name = "ingest p99 during retention pruning"
			default:
				continue
			}
			if base.P99 > 0 && p.Requests > 0 {
				met := p.P99 <= 2*base.P99
				rep.Queries = append(rep.Queries, queryResult{Name: name, Goal: fmt.Sprintf("≤ 2× the baseline's %s ms", ms(base.P99)),
					Runs: p.Requests, P50: p.P50, P99: p.P99, Met: &met})
			}
		}
	}
	return nil
}

// countCallbacks counts the callbacks in db.
func countCallbacks(ctx context.Context, d *Database) (int64, error) {
	driver, dsn := "postgres", d.URL
	if d.Kind == "sqlite" {
		driver, dsn = "sqlite", sqliteDSN(sqlitePath(d.Dir))
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM llm_callbacks").Scan(&n)
	return n, err
}

// measurer times admin calls.
type measurer struct {
	client *callbackclient.Client
	admin  callbacksv1connect.CallbackAdminServiceClient
	rep    *report
	errs   map[string]bool
}

// list times one ListCallbacks call; a failure is recorded once per query.
func (m *measurer) list(ctx context.Context, name string, req *callbacksv1.ListCallbacksRequest) (*callbacksv1.ListCallbacksResponse, time.Duration, bool) {
	start := time.Now()
	resp, err := m.client.List(ctx, req)
	d := time.Since(start)
	if err != nil {
		if ctx.Err() == nil && !m.errs[name] {
			if m.errs == nil {
				m.errs = map[string]bool{}
			}
			m.errs[name] = true
			m.rep.Errors = append(m.rep.Errors, fmt.Sprintf("%s: %v", name, err))
		}
		return nil, d, false
	}
	return resp, d, true
}

// firstPage is one query of the first-page goal: each run asks req(run).
type firstPage struct {
	name string
	req  func(rng *rand.Rand) *callbacksv1.ListCallbacksRequest
}

// firstPages times page 1 of ListCallbacks without a filter, with each
// single filter (the parameter varied from run to run) and unviewed_only,
// the queries interleaved so that a slow moment of the machine does not
// fall on one of them.
func (m *measurer) firstPages(ctx context.Context, cfg config, h History) {
	statuses := []callbacksv1.CallbackStatus{callbacksv1.CallbackStatus_CALLBACK_STATUS_RECEIVED, callbacksv1.CallbackStatus_CALLBACK_STATUS_PROCESSED, callbacksv1.CallbackStatus_CALLBACK_STATUS_ERROR}
	events := []string{"workflow.completed", "workflow.failed", "llm.step.completed", "llm.step.retried"}
	queries := []firstPage{
		{"page 1, no filter", func(*rand.Rand) *callbacksv1.ListCallbacksRequest { return &callbacksv1.ListCallbacksRequest{} }},
		{"page 1, status (each of 3)", func(r *rand.Rand) *callbacksv1.ListCallbacksRequest {
			return &callbacksv1.ListCallbacksRequest{Status: statuses[r.IntN(len(statuses))]}
		}},
		{"page 1, event_type (each of 4, one unknown)", func(r *rand.Rand) *callbacksv1.ListCallbacksRequest {
			return &callbacksv1.ListCallbacksRequest{EventType: events[r.IntN(len(events))]}
		}},
		{"page 1, workflow_name (each of 30)", func(r *rand.Rand) *callbacksv1.ListCallbacksRequest {
			return &callbacksv1.ListCallbacksRequest{WorkflowName: workflows[r.IntN(len(workflows))]}
		}},
		{"page 1, external_job_id (a random job)", func(r *rand.Rand) *callbacksv1.ListCallbacksRequest {
			return &callbacksv1.ListCallbacksRequest{ExternalJobId: h.jobOf(r.IntN(h.N / jobEvents)).id}
		}},
		{"page 1, create_time window (a random day)", func(r *rand.Rand) *callbacksv1.ListCallbacksRequest {
			from := h.Start.Add(time.Duration(r.Int64N(int64(h.Span - 24*time.Hour))))
			return &callbacksv1.ListCallbacksRequest{CreateTimeAfter: timestamppb.New(from), CreateTimeBefore: timestamppb.New(from.Add(24 * time.Hour))}
		}},
		{"page 1, unviewed_only", func(*rand.Rand) *callbacksv1.ListCallbacksRequest {
			return &callbacksv1.ListCallbacksRequest{UnviewedOnly: true}
		}},
	}
	rng := rand.New(rand.NewPCG(cfg.seed, 42))
	times := make([][]time.Duration, len(queries))
	for run := 0; run < cfg.runs && ctx.Err() == nil; run++ {
		for i, q := range queries {
			if _, d, ok := m.list(ctx, q.name, q.req(rng)); ok {
				times[i] = append(times[i], d)
			}
		}
	}
	for i, q := range queries {
		m.rep.Queries = append(m.rep.Queries, newQueryResult(q.name, "p99 ≤ 20 ms", listGoal, times[i]))
	}
}

// deepPages compares page 1 and page cfg.pages of a few filtered lists. The
// deep page is reached by walking the pages with their next_page_token (25
// callbacks a page), once per filter; its token, a keyset position, is then
// asked again and again, alternating with page 1.
func (m *measurer) deepPages(ctx context.Context, cfg config) {
	filters := []struct {
		name string
		req  func() *callbacksv1.ListCallbacksRequest
	}{
		{"status=processed", func() *callbacksv1.ListCallbacksRequest {
			return &callbacksv1.ListCallbacksRequest{Status: callbacksv1.CallbackStatus_CALLBACK_STATUS_PROCESSED}
		}},
		{"workflow_name=" + workflows[1], func() *callbacksv1.ListCallbacksRequest {
			return &callbacksv1.ListCallbacksRequest{WorkflowName: workflows[1]}
		}},
		{"event_type=llm.step.completed", func() *callbacksv1.ListCallbacksRequest {
			return &callbacksv1.ListCallbacksRequest{EventType: "llm.step.completed"}
		}},
	}
	var page1, deep []time.Duration
	var walk []string
	for _, f := range filters {
		name := fmt.Sprintf("page %d, %s", cfg.pages, f.name)
		token := ""
		start := time.Now()
		var reached int
		for p := 1; p < cfg.pages && ctx.Err() == nil; p++ {
			req := f.req()
			req.PageToken = token
			resp, _, ok := m.list(ctx, name+" (walk)", req)
			if !ok || resp.NextPageToken == "" {
				break
			}
			token, reached = resp.NextPageToken, p+1
		}
		walk = append(walk, fmt.Sprintf("%s: %v", f.name, time.Since(start).Round(time.Millisecond)))
		if reached != cfg.pages {
			m.rep.Notes = append(m.rep.Notes, fmt.Sprintf("%s has fewer than %d pages: not measured", f.name, cfg.pages))
			continue
		}
		for run := 0; run < cfg.runs && ctx.Err() == nil; run++ {
			if _, d, ok := m.list(ctx, "page 1, "+f.name, f.req()); ok {
				page1 = append(page1, d)
			}
			req := f.req()
			req.PageToken = token
			if _, d, ok := m.list(ctx, name, req); ok {
				deep = append(deep, d)
			}
		}
	}
	p1 := newQueryResult("page 1 of the filtered lists below", "(the reference)", 0, page1)
	pn := newQueryResult(fmt.Sprintf("page %d of the same lists (keyset: page tokens, reached by walking)", cfg.pages),
		fmt.Sprintf("p99 ≤ %.1f× page 1's (%s ms)", deepPageFactor, ms(time.Duration(float64(p1.P99)*deepPageFactor))), 0, deep)
	if len(deep) > 0 && len(page1) > 0 {
		met := float64(pn.P99) <= deepPageFactor*float64(p1.P99)
		pn.Met = &met
	}
	pn.Notes = fmt.Sprintf("filters %s, %s, %s; walks took %v", filters[0].name, filters[1].name, filters[2].name, walk)
	m.rep.Queries = append(m.rep.Queries, p1, pn)
}

// ingestLoad posts signed callbacks at a steady rate in open loop: request
// i is due at begin + i/rate and its latency counts from then, so a stalled
// server cannot hide its stall by slowing the load. Latencies are kept by
// the phase of the run in which each request was due.
type ingestLoad struct {
	cancel context.CancelFunc
	rate   float64
	done   chan struct{}

	mu      sync.Mutex
	current string
	order   []string
	byPhase map[string]*phaseSamples
}

// phaseSamples are the answers to the requests due in one phase.
type phaseSamples struct {
	latencies []time.Duration
	failed    map[string]int // by status code or "transport"
}

// The ingest phases before the queries: the warm-up's latencies are
// reported but compared with nothing; the baseline is what the phases with
// a goal are compared with.
const (
	warmupPhase   = "warm-up (not compared)"
	baselinePhase = "baseline (ingest only)"
)

// startIngest starts posting at rate (nothing if 0) to the server at base.
// The callbacks are new jobs of a history that starts now, signed with the
// webhook secret named "bench".
func startIngest(ctx context.Context, rate float64, base, secret string) *ingestLoad {
	ctx, cancel := context.WithCancel(ctx)
	l := &ingestLoad{cancel: cancel, rate: rate, done: make(chan struct{}), byPhase: map[string]*phaseSamples{}}
	if rate == 0 {
		close(l.done)
		return l
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
	}}
	fresh := History{N: 1 << 30, Seed: rand.Uint64(), Start: time.Now().UTC(), Span: time.Duration(float64(time.Second) * float64(1<<30) / rate)}
	go func() {
		defer close(l.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		begin := time.Now()
		for i := 0; ctx.Err() == nil; i++ {
			row, err := fresh.Row(i)
			if err != nil {
				panic(err) // the generator's own payloads always parse
			}
			body := row.D.Payload
			sig := webhook.SignLLM(secret, body)
			due := begin.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if !benchserver.Sleep(ctx, time.Until(due)) {
				return
			}
			l.mu.Lock()
			phase := l.current
			l.mu.Unlock()
			wg.Go(func() {
				failure := post(ctx, client, base+"/api/webhooks/llm-callback", row.D.EventType, sig, body)
				lat := time.Since(due)
				if ctx.Err() != nil || phase == "" {
					return
				}
				l.mu.Lock()
				defer l.mu.Unlock()
				s := l.byPhase[phase]
				if failure == "" {
					s.latencies = append(s.latencies, lat)
				} else {
					s.failed[failure]++
				}
			})
		}
	}()
	return l
}

// phase starts a phase of the run ("" for none: not recorded).
func (l *ingestLoad) phase(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.current = name
	if name != "" && l.byPhase[name] == nil {
		l.byPhase[name] = &phaseSamples{failed: map[string]int{}}
		l.order = append(l.order, name)
	}
}

// minPhaseRequests is how many ingest requests a phase compared with the
// baseline must have: a p99 of none compares nothing.
const minPhaseRequests = 5

// holdForIngest keeps the current phase open until minPhaseRequests sent
// in it were answered (the load's end drops the answers still in flight). An operation faster than a few ingest intervals (a small
// MarkAllViewed in the smoke test) would otherwise have no ingest beside
// it at all; a benchmark-sized one never waits here. The wait is noted in
// the report, since the samples after the operation are of a quiet server.
func (m *measurer) holdForIngest(ctx context.Context, l *ingestLoad, phase string) {
	start := time.Now()
	for l.rate > 0 && l.answeredIn(phase) < minPhaseRequests {
		if !benchserver.Sleep(ctx, 10*time.Millisecond) {
			return
		}
	}
	if waited := time.Since(start); waited >= 10*time.Millisecond {
		m.rep.Notes = append(m.rep.Notes, fmt.Sprintf("the %s phase was held open %s ms past its operation, so that %d ingest requests were answered in it",
			phase, ms(waited), minPhaseRequests))
	}
}

// answeredIn is how many requests sent in phase were answered.
func (l *ingestLoad) answeredIn(phase string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.byPhase[phase]
	if s == nil {
		return 0
	}
	n := len(s.latencies)
	for _, f := range s.failed {
		n += f
	}
	return n
}

// stop ends the load and waits for the answers in flight.
func (l *ingestLoad) stop() {
	l.cancel()
	<-l.done
}

// phases summarises the latencies of each phase, in order.
func (l *ingestLoad) phases() []ingestPhase {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ingestPhase
	for _, name := range l.order {
		s := l.byPhase[name]
		p := ingestPhase{Phase: name, Requests: len(s.latencies), Failures: s.failed}
		for _, n := range s.failed {
			p.Requests += n
		}
		p.P50, p.P99, _ = percentiles(s.latencies)
		out = append(out, p)
	}
	return out
}

// post delivers one callback as the LLM service does and returns "" when
// it was stored, else the status code or "transport".
func post(ctx context.Context, client *http.Client, url, event, sig string, body []byte) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "request"
	}
	req.Header = http.Header{
		"Content-Type":        {"application/json"},
		"X-Webhook-Signature": {sig},
		"X-Webhook-Event":     {event},
		"User-Agent":          {"LLM Job Service/1.0.0"},
	}
	resp, err := client.Do(req)
	if err != nil {
		return "transport"
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return strconv.Itoa(resp.StatusCode)
	}
	return ""
}

// unsupported is a call that the server answered without doing what it
// was asked: an RPC it does not implement, or a field it does not fill.
type unsupported struct{ why string }

func (u unsupported) Error() string { return u.why }

// fail records a failed call once per query; an unsupported one is a note,
// not a failure of the program.
func (m *measurer) fail(ctx context.Context, name string, err error) {
	var u unsupported
	if connect.CodeOf(err) == connect.CodeUnimplemented {
		u, err = unsupported{"the server does not implement it"}, nil
	}
	if errors.As(err, &u) || err == nil {
		if !m.errs[name] {
			if m.errs == nil {
				m.errs = map[string]bool{}
			}
			m.errs[name] = true
			m.rep.Notes = append(m.rep.Notes, fmt.Sprintf("not measured, %s: %s", name, u.why))
		}
		return
	}
	if ctx.Err() == nil && !m.errs[name] {
		if m.errs == nil {
			m.errs = map[string]bool{}
		}
		m.errs[name] = true
		m.rep.Errors = append(m.rep.Errors, fmt.Sprintf("%s: %v", name, err))
	}
}

// searchCountsStats times the search for RareWord (alone and with a
// filter), total_size of filtered lists, the unviewed badge count and
// GetCallbackStats over 30 days in hourly buckets, interleaved.
func (m *measurer) searchCountsStats(ctx context.Context, cfg config, h History) {
	rng := rand.New(rand.NewPCG(cfg.seed, 43))
	end := h.Start.Add(h.Span)
	type call struct {
		name, goal string
		limit      time.Duration
		do         func() (time.Duration, error)
	}
	list := func(req *callbacksv1.ListCallbacksRequest, check func(*callbacksv1.ListCallbacksResponse) error) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			start := time.Now()
			resp, err := m.client.List(ctx, req)
			d := time.Since(start)
			if err == nil {
				err = check(resp)
			}
			return d, err
		}
	}
	found := func(resp *callbacksv1.ListCallbacksResponse) error {
		if len(resp.Callbacks) == 0 {
			return fmt.Errorf("the search for %q found nothing", RareWord)
		}
		for _, c := range resp.Callbacks {
			if !strings.Contains(c.GetErrorMessage(), RareWord) {
				return unsupported{"the server ignores query (its answer holds callbacks without the word)"}
			}
		}
		return nil
	}
	calls := []call{
		{fmt.Sprintf("search %q (0.1 %%), first page; alone, with status=error, with a workflow", RareWord), "p99 ≤ 150 ms", 150 * time.Millisecond, func() (time.Duration, error) {
			req := &callbacksv1.ListCallbacksRequest{Query: RareWord}
			switch rng.IntN(3) {
			case 1:
				req.Status = callbacksv1.CallbackStatus_CALLBACK_STATUS_ERROR
			case 2:
				req.WorkflowName = workflows[0]
			}
			return list(req, found)()
		}},
		{"total_size of a filtered list (status, event_type or workflow)", "p99 ≤ 100 ms", 100 * time.Millisecond, func() (time.Duration, error) {
			req := &callbacksv1.ListCallbacksRequest{IncludeTotalSize: true}
			switch rng.IntN(3) {
			case 0:
				req.Status = callbacksv1.CallbackStatus(1 + rng.IntN(3))
			case 1:
				req.EventType = []string{"workflow.completed", "workflow.failed", "llm.step.completed"}[rng.IntN(3)]
			default:
				req.WorkflowName = workflows[rng.IntN(len(workflows))]
			}
			return list(req, func(resp *callbacksv1.ListCallbacksResponse) error {
				if resp.TotalSize == 0 {
					return unsupported{"the server returns no total_size"}
				}
				return nil
			})()
		}},
		{badgeName, "p99 ≤ 100 ms", 100 * time.Millisecond, list(
			&callbacksv1.ListCallbacksRequest{PageSize: 1, IncludeUnviewedCount: true},
			func(resp *callbacksv1.ListCallbacksResponse) error {
				if resp.UnviewedCount == 0 {
					return unsupported{"the server returns no unviewed_count"}
				}
				return nil
			})},
		{"GetCallbackStats, 30 days, hourly, all workflows (window ending in the last 60 days)", "p99 ≤ 200 ms", 200 * time.Millisecond, func() (time.Duration, error) {
			to := end.Add(-time.Duration(rng.Int64N(int64(60 * 24 * time.Hour)))).Truncate(time.Hour)
			req := &callbacksv1.GetCallbackStatsRequest{
				CreateTimeAfter: timestamppb.New(to.Add(-30 * 24 * time.Hour)), CreateTimeBefore: timestamppb.New(to),
				Bucket: callbacksv1.StatsBucket_STATS_BUCKET_HOUR,
			}
			start := time.Now()
			resp, err := m.admin.GetCallbackStats(ctx, connect.NewRequest(req))
			d := time.Since(start)
			if err == nil && resp.Msg.GetTotal().GetCount() == 0 {
				err = fmt.Errorf("no callbacks counted in %v", req)
			}
			return d, err
		}},
	}
	times := make([][]time.Duration, len(calls))
	for run := 0; run < cfg.runs && ctx.Err() == nil; run++ {
		for i, c := range calls {
			if m.errs[c.name] {
				continue
			}
			d, err := c.do()
			if err != nil {
				m.fail(ctx, c.name, err)
				continue
			}
			times[i] = append(times[i], d)
		}
	}
	for i, c := range calls {
		m.rep.Queries = append(m.rep.Queries, newQueryResult(c.name, c.goal, c.limit, times[i]))
	}
}

// markAllViewed times MarkAllViewed of about cfg.markRows callbacks, a
// window of the history that holds that many, by an admin who has viewed
// none of them, cfg.markRuns times on disjoint windows of the oldest part
// of the history.
func (m *measurer) markAllViewed(ctx context.Context, cfg config, h History, admin callbacksv1connect.CallbackAdminServiceClient) {
	window := time.Duration(float64(h.Span) * float64(cfg.markRows) / float64(h.N))
	var times []time.Duration
	var marked []int64
	name := markName(cfg)
	for run := 0; run < cfg.markRuns && ctx.Err() == nil && !m.errs[name]; run++ {
		from := h.Start.Add(cfg.markStart + time.Duration(run)*window)
		req := &callbacksv1.MarkAllViewedRequest{CreateTimeAfter: timestamppb.New(from), CreateTimeBefore: timestamppb.New(from.Add(window))}
		start := time.Now()
		resp, err := admin.MarkAllViewed(ctx, connect.NewRequest(req))
		d := time.Since(start)
		if err != nil {
			m.fail(ctx, name, err)
			continue
		}
		times = append(times, d)
		marked = append(marked, resp.Msg.GetMarked())
	}
	q := newQueryResult(name, "≤ 5 s", 5*time.Second, times)
	q.Notes = fmt.Sprintf("marked %v", marked)
	m.rep.Queries = append(m.rep.Queries, q)
}

// markName names the MarkAllViewed query in the report.
func markName(cfg config) string {
	return fmt.Sprintf("MarkAllViewed of %d callbacks (a create_time window)", cfg.markRows)
}

// pruneName names the retention query in the report.
func pruneName(cfg config) string {
	return fmt.Sprintf("retention pruning the oldest %d callbacks (a second server, batches of the retention runner)", cfg.pruneRows)
}

// deletedRE finds the count of a retention run's log line, in callbackd's
// text or JSON log format.
var deletedRE = regexp.MustCompile(`retention: pruned callbacks.*?deleted["=:]+(\d+)`)

// prune times the retention runner deleting the oldest cfg.pruneRows
// callbacks of the seeded history while the ingest load goes on: a second
// callbackd on the same database, started with --retention-max-age set to
// the age of the cfg.pruneRows-th oldest seeded callback (unviewed ones
// included), runs the product's retention (internal/retention: batches,
// oldest first) once at start; its log line "retention: pruned callbacks"
// ends the phase. The duration counts from before the second server's
// start, so it includes the start (well under a second).
func (m *measurer) prune(ctx context.Context, cfg config, bin string, db *Database, h History, secret string) {
	name := pruneName(cfg)
	cutoff := h.Start.Add(time.Duration(float64(h.Span) * float64(cfg.pruneRows) / float64(h.N)))
	dir, err := os.MkdirTemp(db.Dir, "pruner-")
	if err != nil {
		m.fail(ctx, name, err)
		return
	}
	start := time.Now()
	maxAge := time.Since(cutoff).Round(time.Second)
	pruner, err := callbackdtest.Start(ctx, callbackdtest.Options{
		Binary:        bin,
		Name:          "pruner",
		DataDir:       dir,
		DatabaseURL:   db.URL,
		LogPath:       filepath.Join(dir, "server.log"),
		LogLevel:      "info",
		WebhookSecret: "bench=" + secret,
		AdminToken:    "bench=" + benchserver.RandomHex(32),
		Args:          []string{"--retention-max-age=" + maxAge.String(), "--retention-include-unviewed", "--retention-interval=24h"},
		StartTimeout:  5 * time.Minute,
		SysProcAttr:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		m.fail(ctx, name, err)
		return
	}
	defer func() {
		if err := pruner.Stop(); err != nil {
			m.rep.Notes = append(m.rep.Notes, "stopping the pruning server: "+err.Error())
		}
	}()
	for ctx.Err() == nil {
		if failed := strings.Contains(pruner.Log(), "retention: prune failed"); failed {
			m.fail(ctx, name, fmt.Errorf("the pruning server logged a failure: %s", pruner.LogTail(5)))
			return
		}
		if match := deletedRE.FindStringSubmatch(pruner.Log()); match != nil {
			d := time.Since(start)
			q := queryResult{Name: name, Goal: "(the duration; the goal is the ingest p99 beside it)", Runs: 1, P50: d, P99: d, Max: d,
				Notes: fmt.Sprintf("deleted %s callbacks created before %s (--retention-max-age=%v)", match[1], cutoff.Format(time.RFC3339), maxAge)}
			m.rep.Queries = append(m.rep.Queries, q)
			return
		}
		benchserver.Sleep(ctx, 200*time.Millisecond)
	}
}

// badgeName names the unviewed badge in the report.
const badgeName = "unviewed badge count (page_size 1, include_unviewed_count)"

// badge times the unviewed badge alone (also among search's queries): the
// phase to rerun after a change to it, without the slower queries.
func (m *measurer) badge(ctx context.Context, cfg config) {
	var times []time.Duration
	for run := 0; run < cfg.runs && ctx.Err() == nil; run++ {
		resp, d, ok := m.list(ctx, badgeName+" (alone)", &callbacksv1.ListCallbacksRequest{PageSize: 1, IncludeUnviewedCount: true})
		if !ok {
			continue
		}
		if resp.UnviewedCount == 0 {
			m.fail(ctx, badgeName+" (alone)", unsupported{"the server returns no unviewed_count"})
			return
		}
		times = append(times, d)
	}
	q := newQueryResult(badgeName+" (alone)", "p99 ≤ 100 ms", 100*time.Millisecond, times)
	m.rep.Queries = append(m.rep.Queries, q)
}
