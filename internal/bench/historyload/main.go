// Command historyload measures callbackd's admin API on a large history
// (issue 14): it seeds a database with a realistic history of callbacks
// quickly — COPY on PostgreSQL, multi-row inserts in big transactions on
// SQLite — then starts callbackd on it, posts signed callbacks at a steady
// open-loop rate beside the measurement (group commit, as production
// ingests), and times each query of the goal table through the real
// API with the Go client over Connect: p50 and p99 per query over many runs
// with varied parameters.
//
// Seeded rows are what the product would store: each payload is serialised
// as the sender serialises it and parsed by callback.ParsePayload, which
// gives the columns, the idempotency key, the payload figures and the
// search document; seq values and feed_position agree; the schema is
// migrated by the server binary itself.
//
// Seeding ten million callbacks takes many minutes, so with -keep the
// database is a named one (PostgreSQL database -name, SQLite directory
// -name) that survives the run and is reused by the next run with the same
// -n and -seed; -seed-only stops after seeding.
//
// Usage, from the repository root:
//
//	go run ./internal/bench/historyload -db postgres -n 10000000 -keep -seed-only
//	go run ./internal/bench/historyload -db postgres -n 10000000 -keep
//	go run ./internal/bench/historyload -db sqlite -n 1000000 -keep
//
// BENCHMARKS.md ("Issue 14: history at 10 million") holds the figures.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"
	_ "modernc.org/sqlite" // the "sqlite" driver, to seed

	"github.com/callbackd/callbackd/internal/bench/benchserver"
)

// config is the validated command line.
type config struct {
	serverBin string
	db        string // "sqlite" or "postgres"
	pgURL     string
	n         int
	seed      uint64
	keep      bool
	name      string
	seedOnly  bool
	rate      float64
	runs      int
	pages     int
	baseline  time.Duration
	warmup    time.Duration
	markRows  int
	markRuns  int
	markStart time.Duration
	phases    map[string]bool // which phases of measure run (allPhases)
	pruneRows int
	jsonPath  string
}

// allPhases are the phases of a measurement, in the order they run; all but
// prune run by default. prune deletes callbacks, so it runs last.
var allPhases = []string{"first", "deep", "search", "badge", "mark", "prune"}

// main parses the flags and runs until done or SIGINT/SIGTERM.
func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "historyload:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_, err = run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "historyload:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line and reports every invalid value at once.
func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("historyload", flag.ContinueOnError)
	fs.StringVar(&cfg.serverBin, "server-bin", "", "callbackd binary to run (default: go build ./cmd/callbackd into a temporary directory)")
	fs.StringVar(&cfg.db, "db", "sqlite", "database: sqlite or postgres")
	fs.StringVar(&cfg.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL used to create and drop the seeded database (with -db postgres)")
	fs.IntVar(&cfg.n, "n", 1_000_000, "callbacks to seed")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the history (same seed and -n, same rows)")
	fs.BoolVar(&cfg.keep, "keep", false, "seed into the named database -name, keep it after the run, and reuse it when it holds a complete seed of the same -n and -seed")
	fs.StringVar(&cfg.name, "name", "", "with -keep: the PostgreSQL database or SQLite directory (default callbackd_history_<n>, or $TMPDIR/historyload-sqlite-<n>)")
	fs.BoolVar(&cfg.seedOnly, "seed-only", false, "stop after seeding (with -keep, to measure later)")
	fs.Float64Var(&cfg.rate, "rate", 500, "open-loop ingest rate beside the queries, requests/s (0: none)")
	fs.IntVar(&cfg.runs, "runs", 200, "runs of each query")
	fs.IntVar(&cfg.pages, "pages", 1000, "the deep page of the keyset goal (page 1 against this page)")
	fs.DurationVar(&cfg.baseline, "baseline", 10*time.Second, "ingest-only time before the queries, for the ingest baseline")
	fs.DurationVar(&cfg.warmup, "warmup", 0, "ingest-only time before the baseline, not compared (a fair baseline starts warm)")
	fs.IntVar(&cfg.markRows, "mark-rows", 100_000, "callbacks each MarkAllViewed marks (at most -n / -mark-runs)")
	fs.IntVar(&cfg.markRuns, "mark-runs", 3, "MarkAllViewed calls, on disjoint windows")
	fs.DurationVar(&cfg.markStart, "mark-start", 0, "where the first MarkAllViewed window begins, after the history's start (past a part that a prune phase deleted)")
	phases := fs.String("phases", "first,deep,search,mark", "comma-separated phases to measure: first (first pages), deep (deep pages), search (search, counts, statistics), badge (the unviewed badge alone), mark (MarkAllViewed), prune (retention deleting -prune-rows old callbacks; PostgreSQL only, and it deletes them)")
	fs.IntVar(&cfg.pruneRows, "prune-rows", 1_000_000, "with -phases prune: the oldest callbacks that retention deletes (at most -n)")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write machine-readable results to this file")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var errs []error
	if cfg.db != "sqlite" && cfg.db != "postgres" {
		errs = append(errs, fmt.Errorf("-db: %q, want sqlite or postgres", cfg.db))
	}
	if cfg.n < jobEvents || cfg.n > 100_000_000 {
		errs = append(errs, fmt.Errorf("-n: %d, want %d..100000000", cfg.n, jobEvents))
	}
	if cfg.rate < 0 || cfg.rate > 20_000 {
		errs = append(errs, fmt.Errorf("-rate: %v, want 0..20000", cfg.rate))
	}
	if cfg.runs < 1 || cfg.runs > 100_000 {
		errs = append(errs, fmt.Errorf("-runs: %d, want 1..100000", cfg.runs))
	}
	if cfg.pages < 2 || cfg.pages > 100_000 {
		errs = append(errs, fmt.Errorf("-pages: %d, want 2..100000", cfg.pages))
	}
	if cfg.baseline < time.Second || cfg.baseline > time.Hour {
		errs = append(errs, fmt.Errorf("-baseline: %v, want 1s..1h", cfg.baseline))
	}
	if cfg.warmup < 0 || cfg.warmup > time.Hour {
		errs = append(errs, fmt.Errorf("-warmup: %v, want 0..1h", cfg.warmup))
	}
	if cfg.markRuns < 1 || cfg.markRows < 1 || cfg.markRows*cfg.markRuns > cfg.n {
		errs = append(errs, fmt.Errorf("-mark-rows %d × -mark-runs %d: want at least 1 each, and at most -n callbacks", cfg.markRows, cfg.markRuns))
	}
	cfg.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		if !slices.Contains(allPhases, p) {
			errs = append(errs, fmt.Errorf("-phases: %q, want some of %s", p, strings.Join(allPhases, ",")))
		}
		cfg.phases[p] = true
	}
	if cfg.phases["prune"] && cfg.db != "postgres" {
		errs = append(errs, errors.New("-phases prune: PostgreSQL only (a second server prunes beside the first, which SQLite's single writer would serialise)"))
	}
	if cfg.phases["prune"] && (cfg.pruneRows < 1 || cfg.pruneRows > cfg.n) {
		errs = append(errs, fmt.Errorf("-prune-rows: %d, want 1..-n", cfg.pruneRows))
	}
	if cfg.markStart < 0 || cfg.markStart > 80*24*time.Hour {
		errs = append(errs, fmt.Errorf("-mark-start: %v, want 0..1920h (the history spans 90 days)", cfg.markStart))
	}
	if cfg.name != "" && !cfg.keep {
		errs = append(errs, errors.New("-name needs -keep"))
	}
	if cfg.keep && cfg.name == "" {
		if cfg.db == "postgres" {
			cfg.name = fmt.Sprintf("callbackd_history_%d", cfg.n)
		} else {
			cfg.name = filepath.Join(os.TempDir(), fmt.Sprintf("historyload-sqlite-%d", cfg.n))
		}
	}
	return cfg, errors.Join(errs...)
}

// history is the history that cfg seeds. It ends a day before now (so that
// a day of fresh callbacks, ingested during the run, sorts first as in
// production) and spans 90 days.
func (cfg config) history(now time.Time) History {
	end := now.UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	return History{N: cfg.n, Seed: cfg.seed, Start: end.Add(-90 * 24 * time.Hour), Span: 90 * 24 * time.Hour}
}

// Database is the database a run measures: kept across runs with -keep,
// otherwise created for the run and dropped after it.
type Database struct {
	Kind string // "sqlite" or "postgres"
	Dir  string // the server's data directory (SQLite file, logs)
	URL  string // the server's --database-url: empty for SQLite

	adminURL string // PostgreSQL database that creates and drops name
	name     string // PostgreSQL database name
	temp     bool   // dropped by Drop
}

// openDatabase makes the run's database: with cfg.keep the named one (made
// if missing), else a fresh one below tmp. It reports whether it already
// holds a complete seed of h.
func openDatabase(ctx context.Context, cfg config, tmp string, h History) (*Database, bool, error) {
	d := &Database{Kind: cfg.db, adminURL: cfg.pgURL, temp: !cfg.keep}
	if cfg.db == "sqlite" {
		d.Dir = cfg.name
		if !cfg.keep {
			dir, err := os.MkdirTemp(tmp, "sqlite-")
			if err != nil {
				return nil, false, err
			}
			d.Dir = dir
		}
		marker, _ := os.ReadFile(filepath.Join(d.Dir, "historyload-seed"))
		if string(marker) == seedMarker(h) {
			return d, true, nil
		}
		if err := os.RemoveAll(d.Dir); err != nil {
			return nil, false, err
		}
		return d, false, os.MkdirAll(d.Dir, 0o700)
	}
	d.name = cfg.name
	if !cfg.keep {
		d.name = "callbackd_history_" + benchserver.RandomHex(6)
	}
	dir, err := os.MkdirTemp(tmp, "pg-")
	if err != nil {
		return nil, false, err
	}
	d.Dir = dir
	u, err := url.Parse(cfg.pgURL)
	if err != nil {
		return nil, false, fmt.Errorf("-pg-url: %w", err)
	}
	u.Path = "/" + d.name
	d.URL = u.String()
	admin, err := sql.Open("postgres", cfg.pgURL)
	if err != nil {
		return nil, false, err
	}
	defer admin.Close()
	var comment sql.NullString
	err = admin.QueryRowContext(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, d.name).Scan(&comment)
	switch {
	case err == nil && comment.String == seedMarker(h):
		return d, true, nil
	case err == nil:
		if _, err := admin.ExecContext(ctx, "DROP DATABASE "+pq.QuoteIdentifier(d.name)+" WITH (FORCE)"); err != nil {
			return nil, false, err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return nil, false, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(d.name)); err != nil {
		return nil, false, fmt.Errorf("create database %s: %w", d.name, err)
	}
	return d, false, nil
}

// markSeeded records that the database holds a complete seed of h.
func (d *Database) markSeeded(ctx context.Context, h History) error {
	if d.Kind == "sqlite" {
		return os.WriteFile(filepath.Join(d.Dir, "historyload-seed"), []byte(seedMarker(h)), 0o600)
	}
	admin, err := sql.Open("postgres", d.adminURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	_, err = admin.ExecContext(ctx, "COMMENT ON DATABASE "+pq.QuoteIdentifier(d.name)+" IS "+pq.QuoteLiteral(seedMarker(h)))
	return err
}

// Drop removes a database made for the run only.
func (d *Database) Drop() error {
	if !d.temp {
		return nil
	}
	if d.Kind == "sqlite" {
		return os.RemoveAll(d.Dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("postgres", d.adminURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	_, err = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(d.name)+" WITH (FORCE)")
	return err
}

// run seeds (unless a kept seed is reused), measures, and writes the report
// to out. It returns the report unless it could not make one.
func run(ctx context.Context, cfg config, out io.Writer) (*report, error) {
	rep, err := measureRun(ctx, cfg)
	if err != nil {
		return nil, err
	}
	writeMarkdown(out, rep)
	if cfg.jsonPath != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(cfg.jsonPath, append(data, '\n'), 0o644); err != nil {
			return nil, err
		}
	}
	return rep, rep.failure()
}

// measureRun is run without the output.
func measureRun(ctx context.Context, cfg config) (_ *report, err error) {
	tmp, err := os.MkdirTemp("", "historyload-")
	if err != nil {
		return nil, fmt.Errorf("create temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := cfg.serverBin
	if bin == "" {
		if bin, err = benchserver.BuildServer(ctx, tmp, progress); err != nil {
			return nil, err
		}
	}
	machine, err := benchserver.DescribeMachine(ctx, cfg.db, cfg.pgURL)
	if err != nil {
		return nil, err
	}
	h := cfg.history(time.Now())
	db, seeded, err := openDatabase(ctx, cfg, tmp, h)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := db.Drop(); err != nil {
			progress("warning: %v", err)
		}
	}()
	rep := &report{Config: cfg.describe(), Machine: machine}
	if seeded {
		progress("reusing the seeded %s database %s", cfg.db, cfg.name)
		rep.Reused = true
	} else {
		if err := migrate(ctx, bin, db); err != nil {
			return nil, err
		}
		progress("seeding %d callbacks into %s", h.N, cfg.db)
		var st seedStats
		if cfg.db == "postgres" {
			st, err = seedPostgres(ctx, db.URL, h)
		} else {
			st, err = seedSQLite(ctx, sqlitePath(db.Dir), h)
		}
		if err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		if err := db.markSeeded(ctx, h); err != nil {
			return nil, err
		}
		progress("seeded %d callbacks and %d views: load %v, indexes %v, %.0f callbacks/s",
			st.Callbacks, st.Views, st.Load.Round(time.Second), st.Index.Round(time.Second), st.Rate())
		rep.Seed = &st
	}
	if !cfg.seedOnly {
		if err := measure(ctx, cfg, bin, db, h, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// describe is the command line as the report shows it.
func (cfg config) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "-db %s -n %d -seed %d -rate %g -runs %d -pages %d -warmup %v -baseline %v -mark-rows %d -mark-runs %d", cfg.db, cfg.n, cfg.seed, cfg.rate, cfg.runs, cfg.pages, cfg.warmup, cfg.baseline, cfg.markRows, cfg.markRuns)
	var phases []string
	for _, p := range allPhases {
		if cfg.phases[p] {
			phases = append(phases, p)
		}
	}
	fmt.Fprintf(&b, " -phases %s", strings.Join(phases, ","))
	if cfg.markStart > 0 {
		fmt.Fprintf(&b, " -mark-start %v", cfg.markStart)
	}
	if cfg.phases["prune"] {
		fmt.Fprintf(&b, " -prune-rows %d", cfg.pruneRows)
	}
	if cfg.keep {
		b.WriteString(" -keep")
	}
	return b.String()
}

// progress writes a progress line to stderr, keeping stdout for the report.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05")+" historyload: "+format+"\n", args...)
}

// benchTruncate shortens s for a progress line.
func benchTruncate(s string, n int) string {
	return benchserver.Truncate(strings.Join(strings.Fields(s), " "), n)
}
