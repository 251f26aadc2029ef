package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/callbackd/callbackd/internal/bench/benchserver"
)

// report is what a run measured.
type report struct {
	Config  string              `json:"config"`
	Machine benchserver.Machine `json:"machine"`
	Reused  bool                `json:"reused"`         // the seed of an earlier run
	Seed    *seedStats          `json:"seed,omitempty"` // nil when reused
	Rows    int64               `json:"rows"`           // callbacks when the queries began
	Queries []queryResult       `json:"queries"`
	Ingest  []ingestPhase       `json:"ingest"`
	Notes   []string            `json:"notes,omitempty"`
	Errors  []string            `json:"errors,omitempty"` // failed calls: the run fails
}

// queryResult is the latencies of one query of the goal table.
type queryResult struct {
	Name  string        `json:"name"`
	Goal  string        `json:"goal"`
	Runs  int           `json:"runs"`
	P50   time.Duration `json:"p50_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
	Met   *bool         `json:"met,omitempty"` // nil: no goal of its own
	Notes string        `json:"notes,omitempty"`
}

// ingestPhase is the ingest load's latency during one phase of the run.
type ingestPhase struct {
	Phase    string         `json:"phase"`
	Requests int            `json:"requests"`
	Failures map[string]int `json:"failures,omitempty"` // by status code or "transport"
	P50      time.Duration  `json:"p50_ns"`
	P99      time.Duration  `json:"p99_ns"`
}

// percentiles returns the p50, p99 and maximum of ds (sorted in place).
func percentiles(ds []time.Duration) (p50, p99, maxD time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return at(0.50), at(0.99), ds[len(ds)-1]
}

// newQueryResult summarises the latencies of one query against a goal: its
// p99 at most limit (0: no goal of its own).
func newQueryResult(name, goal string, limit time.Duration, ds []time.Duration) queryResult {
	q := queryResult{Name: name, Goal: goal, Runs: len(ds)}
	q.P50, q.P99, q.Max = percentiles(ds)
	if limit > 0 && len(ds) > 0 {
		met := q.P99 <= limit
		q.Met = &met
	}
	return q
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// writeMarkdown writes the report as the tables of BENCHMARKS.md.
func writeMarkdown(w io.Writer, r *report) {
	m := r.Machine
	fmt.Fprintf(w, "historyload %s\n\n", r.Config)
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %s, kernel %s, %s; database %s\n\n", m.CPUs, m.CPUModel, m.Memory, m.Kernel, m.GoVersion, m.Database)
	if r.Seed != nil {
		s := r.Seed
		fmt.Fprintf(w, "Seed: %d callbacks, %d views; load %v, indexes and statistics %v; %.0f callbacks/s overall (%.0f/s loading)\n\n",
			s.Callbacks, s.Views, s.Load.Round(time.Second), s.Index.Round(time.Second), s.Rate(), float64(s.Callbacks)/max(s.Load.Seconds(), 1e-9))
	} else if r.Reused {
		fmt.Fprintf(w, "Seed: reused from an earlier run (-keep)\n\n")
	}
	if len(r.Queries) > 0 {
		fmt.Fprintf(w, "Callbacks when the queries began: %d\n\n", r.Rows)
		fmt.Fprintln(w, "| query | runs | p50 ms | p99 ms | max ms | goal | met |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|---|")
		for _, q := range r.Queries {
			met := "—"
			if q.Met != nil {
				met = map[bool]string{true: "yes", false: "**no**"}[*q.Met]
			}
			goal := q.Goal
			if q.Notes != "" {
				goal += " (" + q.Notes + ")"
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s |\n", q.Name, q.Runs, ms(q.P50), ms(q.P99), ms(q.Max), goal, met)
		}
		fmt.Fprintln(w)
	}
	if len(r.Ingest) > 0 {
		fmt.Fprintln(w, "| ingest beside it, phase | requests | failed | p50 ms | p99 ms |")
		fmt.Fprintln(w, "|---|---:|---|---:|---:|")
		for _, p := range r.Ingest {
			failed := "0"
			if len(p.Failures) > 0 {
				failed = fmt.Sprint(p.Failures)
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", p.Phase, p.Requests, failed, ms(p.P50), ms(p.P99))
		}
		fmt.Fprintln(w)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "- ERROR: %s\n", e)
	}
}

// failure is an error when any call failed; a missed goal is a figure, not
// a failure of the program.
func (r *report) failure() error {
	if len(r.Errors) > 0 {
		return fmt.Errorf("%d kinds of calls failed, first: %s", len(r.Errors), r.Errors[0])
	}
	return nil
}

// errSkipped marks a measurement the server cannot answer.
var errSkipped = errors.New("skipped")
