// Command ingestload measures callbackd's webhook ingestion: the throughput
// and latency of distinct, pre-signed LLM-service callbacks posted to
// POST /api/webhooks/llm-callback at a set concurrency (or rate) for a set
// time.
//
// One run compares three ingest modes of the same server binary, because a
// figure means little without its references (the binary is built with the
// benchmodes tag, which adds the two reference modes as --ingest-mode; a
// product build has only group commit):
//
//   - discard: verify and parse, store nothing — the ceiling;
//   - naive: one transaction per delivery — the baseline;
//   - group: group commit — what production runs.
//
// Each mode gets a fresh database (a temporary SQLite data directory, or a
// PostgreSQL database created for it and dropped after) and a freshly started
// server on a free loopback port. With -repeat K the modes run interleaved K
// times and the medians are reported, since the machine is shared and noisy.
// After each storing mode the rows in llm_callbacks are counted: they must
// equal the callbacks acknowledged.
//
// Every answer other than 200 is counted by status and reported, and makes
// the program exit with status 1 after printing the results, as does a row
// count mismatch.
//
// Usage, from the repository root:
//
//	go run ./bench/ingestload -db sqlite -concurrency 64 -repeat 3
//	go run ./bench/ingestload -db postgres -concurrency 1 -repeat 3
//	go run ./bench/ingestload -db postgres -modes naive,group -rate 2000
//
// BENCHMARKS.md holds the figures measured with it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/callbackd/callbackd/internal/bench/benchserver"
)

// allModes are the server's ingest modes, in the order a run interleaves them.
// Only group is the product's; the others exist in a build with the
// benchModesTag build tag.
var allModes = []string{"discard", "naive", "group"}

// benchModesTag is the build tag that gives callbackd its --ingest-mode flag.
const benchModesTag = "benchmodes"

// config is the validated command line.
type config struct {
	serverBin   string
	db          string // "sqlite" or "postgres"
	pgURL       string
	modes       []string
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	rate        float64 // requests per second across all workers; 0 = closed loop
	repeat      int
	sizeMix     []sizeShare
	sizeMixText string
	callbacks   int // callbacks pre-built per run; 0 = derived from the load
	jsonPath    string
	seed        uint64
	gogc        int      // of this process only
	serverEnv   []string // KEY=VALUE added to the server's environment (OTEL_* for tracing)
}

// main parses the flags and runs the benchmark until it ends or SIGINT/SIGTERM.
func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestload:", err)
		os.Exit(2)
	}
	debug.SetGCPercent(cfg.gogc)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestload:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line and reports every invalid value at once.
func parseFlags(args []string) (config, error) {
	var (
		cfg   config
		modes string
	)
	fs := flag.NewFlagSet("ingestload", flag.ContinueOnError)
	fs.StringVar(&cfg.serverBin, "server-bin", "", "callbackd binary to run (default: go build -tags "+benchModesTag+" ./cmd/callbackd into a temporary directory); built without that tag, it runs only -modes group")
	fs.StringVar(&cfg.db, "db", "sqlite", "database: sqlite or postgres")
	fs.StringVar(&cfg.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL used to create and drop a fresh database per run (with -db postgres)")
	fs.StringVar(&modes, "modes", strings.Join(allModes, ","), "ingest modes to run, comma-separated: discard, naive, group")
	fs.IntVar(&cfg.concurrency, "concurrency", 64, "concurrent connections posting callbacks")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured time per mode")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unrecorded load before the measured time")
	fs.Float64Var(&cfg.rate, "rate", 0, "open-loop rate in requests/s across all workers (0: closed loop, as fast as the server answers)")
	fs.IntVar(&cfg.repeat, "repeat", 1, "interleaved repeats of all modes; medians are reported")
	fs.StringVar(&cfg.sizeMixText, "size-mix", "2048:98,102400:1.5,1048000:0.5", "body sizes in bytes and their share in percent")
	fs.IntVar(&cfg.callbacks, "callbacks", 0, "distinct callbacks pre-built per run (0: enough for the rate, or for 30,000 req/s in closed loop)")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write machine-readable results to this file")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the payload mix (same seed, same bodies apart from job ids)")
	fs.Func("server-env", "KEY=VALUE added to the server's environment, repeatable: OTEL_* variables turn tracing on (the server inherits none)", func(kv string) error {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("%q: want KEY=VALUE", kv)
		}
		cfg.serverEnv = append(cfg.serverEnv, kv)
		return nil
	})
	fs.IntVar(&cfg.gogc, "gogc", 400, "GOGC of the load generator itself (not of the server): its collections, which delay sending and receiving, would count as server latency")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	var errs []error
	for m := range strings.SplitSeq(modes, ",") {
		m = strings.TrimSpace(m)
		switch {
		case !slices.Contains(allModes, m):
			errs = append(errs, fmt.Errorf("-modes: unknown mode %q (want discard, naive or group)", m))
		case slices.Contains(cfg.modes, m):
			errs = append(errs, fmt.Errorf("-modes: %q given twice", m))
		default:
			cfg.modes = append(cfg.modes, m)
		}
	}
	if cfg.db != "sqlite" && cfg.db != "postgres" {
		errs = append(errs, fmt.Errorf("-db: %q, want sqlite or postgres", cfg.db))
	}
	if cfg.concurrency < 1 || cfg.concurrency > 4096 {
		errs = append(errs, fmt.Errorf("-concurrency: %d, want 1..4096", cfg.concurrency))
	}
	if cfg.duration <= 0 || cfg.duration > time.Hour {
		errs = append(errs, fmt.Errorf("-duration: %v, want more than 0 and at most 1h", cfg.duration))
	}
	if cfg.warmup < 0 || cfg.warmup > 10*time.Minute {
		errs = append(errs, fmt.Errorf("-warmup: %v, want 0..10m", cfg.warmup))
	}
	if cfg.rate < 0 {
		errs = append(errs, fmt.Errorf("-rate: %v, want 0 or more", cfg.rate))
	}
	if cfg.repeat < 1 || cfg.repeat > 100 {
		errs = append(errs, fmt.Errorf("-repeat: %d, want 1..100", cfg.repeat))
	}
	if cfg.gogc < 1 {
		errs = append(errs, fmt.Errorf("-gogc: %d, want 1 or more", cfg.gogc))
	}
	if cfg.callbacks < 0 || cfg.callbacks > 10_000_000 {
		errs = append(errs, fmt.Errorf("-callbacks: %d, want 0..10000000", cfg.callbacks))
	}
	mix, err := parseSizeMix(cfg.sizeMixText)
	if err != nil {
		errs = append(errs, fmt.Errorf("-size-mix: %w", err))
	}
	cfg.sizeMix = mix
	if cfg.callbacks == 0 {
		// In closed loop, enough for a rate above the verify+parse ceiling
		// measured here (21,000 req/s).
		rate := 30_000.0
		if cfg.rate > 0 {
			rate = cfg.rate
		}
		cfg.callbacks = int(rate*(cfg.warmup+cfg.duration).Seconds()) + cfg.concurrency + 1
	}
	return cfg, errors.Join(errs...)
}

// run builds the server if needed, pre-builds the callbacks, runs every mode
// -repeat times interleaved, prints the report and fails if any request or
// row count went wrong.
func run(ctx context.Context, cfg config) error {
	tmp, err := os.MkdirTemp("", "ingestload-")
	if err != nil {
		return fmt.Errorf("create temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	bin := cfg.serverBin
	if bin == "" {
		if bin, err = benchserver.BuildServer(ctx, tmp, progress, benchModesTag); err != nil {
			return err
		}
	}
	machine, err := benchserver.DescribeMachine(ctx, cfg.db, cfg.pgURL)
	if err != nil {
		return err
	}

	secret := benchserver.RandomHex(32)
	progress("pre-building and signing %d callbacks", cfg.callbacks)
	start := time.Now()
	cbs, err := buildCallbacks(cfg.callbacks, cfg.sizeMix, secret, cfg.seed)
	if err != nil {
		return err
	}
	progress("built in %v", time.Since(start).Round(time.Millisecond))

	client := newLoadClient(cfg.concurrency)
	var runs []runResult
	for r := 1; r <= cfg.repeat; r++ {
		for _, mode := range cfg.modes {
			progress("repeat %d/%d, mode %s", r, cfg.repeat, mode)
			res, err := runMode(ctx, cfg, tmp, bin, secret, mode, cbs, client)
			if err != nil {
				return fmt.Errorf("repeat %d, mode %s: %w", r, mode, err)
			}
			res.Repeat = r
			progress("  %s", res.oneLine())
			runs = append(runs, res)
		}
	}

	rep := newReport(cfg, machine, runs)
	writeMarkdown(os.Stdout, rep)
	if cfg.jsonPath != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("encode results: %w", err)
		}
		if err := os.WriteFile(cfg.jsonPath, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
	}
	return rep.failure()
}

// runMode runs one mode once: fresh database, fresh server, load, stop,
// row count.
func runMode(ctx context.Context, cfg config, tmp, bin, secret, mode string, cbs []callback, client *loadClient) (runResult, error) {
	db, err := benchserver.CreateDatabase(ctx, cfg.db, cfg.pgURL, tmp, "callbackd_bench_")
	if err != nil {
		return runResult{}, err
	}
	defer func() {
		if err := db.Drop(); err != nil {
			progress("warning: %v", err)
		}
	}()

	srv, err := startServer(ctx, bin, mode, db, secret, cfg.serverEnv)
	if err != nil {
		return runResult{}, err
	}
	// CPU use is read over the measured time only: the warm-up's first
	// requests pay for connections and prepared statements.
	warmed := make(chan cpuReading, 1)
	warm := time.AfterFunc(cfg.warmup, func() { warmed <- readCPU(srv.Pid(), cfg.db) })
	load := runLoad(ctx, cfg, client, srv.URL+webhookPath, cbs)
	cpu1 := readCPU(srv.Pid(), cfg.db)
	var cpu0 cpuReading // zero if the run ended before the warm-up did
	if !warm.Stop() {
		cpu0 = <-warmed
	}
	client.CloseIdleConnections()
	stopErr := srv.Stop()
	if ctx.Err() != nil {
		return runResult{}, ctx.Err()
	}

	res := newRunResult(mode, load)
	res.setCPU(cpu0, cpu1)
	if stopErr != nil {
		res.Notes = append(res.Notes, stopErr.Error())
	}
	if n, sample := benchserver.LogSummary(srv.LogPath, expectedLog); n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("server logged %d line(s) at warn or above, first: %s", n, sample))
	}
	if mode != "discard" {
		rows, err := countRows(ctx, db)
		if err != nil {
			return runResult{}, err
		}
		res.Rows = &rows
	}
	return res, nil
}

// progress writes a progress line to stderr, keeping stdout for the report.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ingestload: "+format+"\n", args...)
}
