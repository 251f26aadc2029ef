package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	"github.com/callbackd/callbackd/internal/callback"
)

// TestSmoke runs the program end to end on a tiny SQLite history: it seeds,
// measures every query through a real callbackd with ingest beside it, and
// reuses the kept seed on a second run. It then checks the seeded rows
// against what the product derives from their payloads.
func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bin, err := callbackdtest.Build(ctx, t.TempDir(), callbackdtest.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "seed")
	cfg, err := parseFlags([]string{"-server-bin", bin, "-db", "sqlite", "-n", "4000", "-keep", "-name", dir,
		"-runs", "3", "-pages", "3", "-warmup", "1s", "-baseline", "1s", "-rate", "50", "-mark-rows", "400", "-mark-runs", "2"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep, err := run(ctx, cfg, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if rep.Seed == nil || rep.Seed.Callbacks != 4000 || rep.Seed.Views == 0 {
		t.Fatalf("seed = %+v, want 4000 callbacks and some views", rep.Seed)
	}
	if len(rep.Queries) < 14 {
		t.Errorf("%d queries measured, want 14 (15 with MarkAllViewed):\n%s", len(rep.Queries), out.String())
	}
	for _, q := range rep.Queries {
		if strings.HasPrefix(q.Name, "MarkAllViewed of") && (q.Runs != 2 || strings.Contains(q.Notes, "[0") || strings.Contains(q.Notes, " 0]")) {
			t.Errorf("MarkAllViewed: %d runs, %s; want 2 runs that each marked some", q.Runs, q.Notes)
		}
		if q.Runs == 0 && !strings.Contains(strings.Join(rep.Notes, "\n"), "not measured, "+q.Name+":") || q.Runs > 0 && q.P99 <= 0 {
			t.Errorf("query %q: %d runs, p99 %v", q.Name, q.Runs, q.P99)
		}
	}
	if len(rep.Ingest) < 2 || rep.Ingest[0].Phase != warmupPhase || rep.Ingest[1].Phase != baselinePhase || rep.Ingest[1].Requests == 0 {
		t.Errorf("ingest phases = %+v, want the warm-up, then a baseline with requests", rep.Ingest)
	}
	if i := slices.IndexFunc(rep.Ingest, func(p ingestPhase) bool { return p.Phase == "MarkAllViewed" }); i < 0 || rep.Ingest[i].Requests < minPhaseRequests {
		t.Errorf("ingest phases = %+v, want MarkAllViewed's with at least %d requests", rep.Ingest, minPhaseRequests)
	}
	if !slices.ContainsFunc(rep.Queries, func(q queryResult) bool { return q.Name == "ingest p99 during MarkAllViewed" }) {
		t.Errorf("MarkAllViewed's ingest p99 is not compared with the baseline:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "| page 1, unviewed_only |") {
		t.Errorf("report lacks the unviewed_only row:\n%s", out.String())
	}

	again, err := run(ctx, cfg, &out)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if !again.Reused || again.Seed != nil {
		t.Errorf("second run reused = %v, seed = %+v; want the kept seed reused", again.Reused, again.Seed)
	}

	// The rows are what the product stores: their columns, figures and
	// search document are what callback.Analyze derives from the payload,
	// positions are unique and feed_position is the highest.
	db, err := sql.Open("sqlite", sqliteDSN(sqlitePath(dir)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT c.callback_id, c.event_type, c.status, c.external_job_id, c.step_id,
		c.error_message, c.payload, c.total_tokens, c.error_category, s.document
		FROM llm_callbacks c JOIN llm_callback_search s ON s.callback_id = c.id WHERE c.user_agent = 'LLM Job Service/1.0.0' LIMIT 500`)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for rows.Next() {
		var (
			key, event, status, job, step, msg, category, doc string
			payload                                           []byte
			total                                             sql.NullInt64
		)
		if err := rows.Scan(&key, &event, &status, &job, &step, &msg, &payload, &total, &category, &doc); err != nil {
			t.Fatal(err)
		}
		d, err := callback.ParsePayload(payload, "", callback.PayloadLimits{})
		if err != nil {
			t.Fatalf("stored payload does not parse: %v", err)
		}
		wantTotal := d.Facts.TotalTokens != nil
		if d.Key != key || d.EventType != event || string(d.Status) != status || d.ExternalJobID != job ||
			d.StepID != step || d.ErrorMessage != msg || d.Facts.ErrorCategory != category || d.SearchText != doc ||
			total.Valid != wantTotal || wantTotal && total.Int64 != *d.Facts.TotalTokens {
			t.Fatalf("row %s differs from what ParsePayload derives: %+v", key, d)
		}
		checked++
	}
	if err := rows.Err(); err != nil || checked == 0 {
		t.Fatalf("checked %d rows: %v", checked, err)
	}
	var rare, maxSeq, feed, dupSeq int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM llm_callbacks WHERE error_message LIKE '%`+RareWord+`%'`).Scan(&rare); err != nil {
		t.Fatal(err)
	}
	// Views that MarkAllViewed recorded (the measuring run makes some) have
	// no position of their own (count(seq) leaves them out); the operation
	// has one, in llm_callback_view_batches.
	if err := db.QueryRowContext(ctx, `SELECT max(seq), count(seq) - count(DISTINCT seq) FROM
		(SELECT seq FROM llm_callbacks UNION ALL SELECT seq FROM llm_callback_views
		 UNION ALL SELECT seq FROM llm_callback_view_batches)`).Scan(&maxSeq, &dupSeq); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT seq FROM feed_position`).Scan(&feed); err != nil {
		t.Fatal(err)
	}
	if rare < 4 || feed != maxSeq || dupSeq != 0 {
		t.Errorf("rare word in %d callbacks (want ≥ 4), feed_position %d, highest seq %d, %d repeated positions", rare, feed, maxSeq, dupSeq)
	}
}

// TestPhasesFlag checks -phases: the default leaves out prune, which
// deletes callbacks; unknown phases and prune on SQLite are refused.
func TestPhasesFlag(t *testing.T) {
	cfg, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range allPhases {
		if want := p != "prune" && p != "badge"; cfg.phases[p] != want {
			t.Errorf("default phase %s: %v, want %v", p, cfg.phases[p], want)
		}
	}
	cfg, err = parseFlags([]string{"-db", "postgres", "-n", "2000000", "-phases", "badge,prune", "-prune-rows", "1000000"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.phases["prune"] || !cfg.phases["badge"] || cfg.phases["first"] || cfg.pruneRows != 1_000_000 {
		t.Errorf("phases %v, prune rows %d", cfg.phases, cfg.pruneRows)
	}
	for _, args := range [][]string{
		{"-phases", "first,bogus"},
		{"-db", "sqlite", "-phases", "prune"},
		{"-db", "postgres", "-n", "1000", "-mark-rows", "10", "-mark-runs", "1", "-phases", "prune", "-prune-rows", "1001"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
}
