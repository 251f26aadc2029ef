// Command watchload measures callbackd's WatchCallbacks fan-out: how long a
// committed callback takes to reach 1, 100, 1,000 or 10,000 concurrent
// watchers, on one node and across two PostgreSQL replicas, and how much
// server memory an idle watcher costs.
//
// For every watcher count and topology it starts the server(s) fresh on a
// fresh database (a temporary SQLite directory, or a PostgreSQL database
// callbackd_watchbench_<random> created through -pg-url and dropped after),
// opens the watchers over gRPC or Connect (both on HTTP/2 without TLS, 100
// streams per connection) and waits for each one's opening heartbeat. It
// reads the server's VmRSS before and after, then posts -events signed
// callbacks one at a time; each is posted only after the previous one
// reached every watcher (or -event-timeout passed), plus -gap, so that
// deliveries never overlap.
//
// Latency is the watcher's receive time minus one of two clocks: the time
// the POST's 200 arrived ("from 2xx"), which comes after the commit and so
// slightly underestimates commit-to-watcher latency (it can even be
// negative), and the time before the POST was sent ("from send"), which
// includes the ingest itself and so overestimates it. The true latency lies
// between the two. The watchers run in this process, on the same machine:
// their CPU time is part of the figure.
//
// "replicas" runs two server processes on one PostgreSQL database:
// callbacks are posted to A and the watchers connect to B, so every event
// crosses LISTEN/NOTIFY.
//
// A delivery that never arrives is counted as missing and makes the program
// exit with status 1 after printing the results, as does a stream that ends
// early or a configuration that fails.
//
// Usage, from the repository root:
//
//	go run ./bench/watchload -db sqlite -topology single
//	go run ./bench/watchload -db postgres -watchers 1000 -protocol connect
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/callbackd/callbackd/internal/bench/benchserver"
)

// config is the validated command line.
type config struct {
	serverBin    string
	db           string // "sqlite" or "postgres"
	pgURL        string
	watchers     []int
	topologies   []string // "single", "replicas"
	protocol     string   // "grpc" or "connect"
	events       int
	gap          time.Duration
	repeat       int
	timeout      time.Duration
	eventTimeout time.Duration
	openTimeout  time.Duration
	settle       time.Duration
	heartbeat    time.Duration
	watchBuffer  int
}

// main parses the flags and runs the benchmark until it ends, the -timeout
// passes, or SIGINT/SIGTERM.
func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "watchload:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	err = run(ctx, cfg, os.Args[1:])
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "watchload:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line and reports every invalid value at once.
func parseFlags(args []string) (config, error) {
	var (
		cfg                  config
		watchers, topologies string
	)
	fs := flag.NewFlagSet("watchload", flag.ContinueOnError)
	fs.StringVar(&cfg.serverBin, "server-bin", "", "callbackd binary to run (default: go build ./cmd/callbackd into a temporary directory)")
	fs.StringVar(&cfg.db, "db", "sqlite", "database: sqlite or postgres")
	fs.StringVar(&cfg.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL used to create and drop a fresh database per run (with -db postgres)")
	fs.StringVar(&watchers, "watchers", "1,100,1000,10000", "concurrent watcher counts, comma-separated")
	fs.StringVar(&topologies, "topology", "single,replicas", "single (one server) and/or replicas (two servers on PostgreSQL: post to A, watch B); replicas is skipped on SQLite")
	fs.StringVar(&cfg.protocol, "protocol", "grpc", "watch protocol: grpc or connect (both over h2c)")
	fs.IntVar(&cfg.events, "events", 50, "callbacks posted per run, one at a time")
	fs.DurationVar(&cfg.gap, "gap", 100*time.Millisecond, "pause after a callback reached every watcher, before the next is posted")
	fs.IntVar(&cfg.repeat, "repeat", 1, "runs of each configuration; medians are reported")
	fs.DurationVar(&cfg.timeout, "timeout", time.Hour, "deadline of the whole benchmark")
	fs.DurationVar(&cfg.eventTimeout, "event-timeout", 10*time.Second, "how long to wait for a callback to reach every watcher")
	fs.DurationVar(&cfg.openTimeout, "open-timeout", 3*time.Minute, "how long opening all watchers may take")
	fs.DurationVar(&cfg.settle, "settle", 2*time.Second, "pause before each RSS reading")
	fs.DurationVar(&cfg.heartbeat, "heartbeat", 15*time.Second, "the server's --heartbeat")
	fs.IntVar(&cfg.watchBuffer, "watch-buffer", 1024, "the server's --watch-buffer")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	var errs []error
	for w := range strings.SplitSeq(watchers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 || n > 50_000 {
			errs = append(errs, fmt.Errorf("-watchers: %q, want counts in 1..50000", w))
			continue
		}
		cfg.watchers = append(cfg.watchers, n)
	}
	for t := range strings.SplitSeq(topologies, ",") {
		switch t = strings.TrimSpace(t); {
		case t != "single" && t != "replicas":
			errs = append(errs, fmt.Errorf("-topology: %q, want single or replicas", t))
		case t == "replicas" && cfg.db != "postgres":
			progress("skipping -topology replicas: replicas need PostgreSQL")
		case !slices.Contains(cfg.topologies, t):
			cfg.topologies = append(cfg.topologies, t)
		}
	}
	if len(cfg.topologies) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("-topology: nothing to run"))
	}
	if cfg.db != "sqlite" && cfg.db != "postgres" {
		errs = append(errs, fmt.Errorf("-db: %q, want sqlite or postgres", cfg.db))
	}
	if cfg.protocol != "grpc" && cfg.protocol != "connect" {
		errs = append(errs, fmt.Errorf("-protocol: %q, want grpc or connect", cfg.protocol))
	}
	if cfg.events < 1 || cfg.events > 10_000 {
		errs = append(errs, fmt.Errorf("-events: %d, want 1..10000", cfg.events))
	}
	if cfg.repeat < 1 || cfg.repeat > 100 {
		errs = append(errs, fmt.Errorf("-repeat: %d, want 1..100", cfg.repeat))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"gap", cfg.gap}, {"settle", cfg.settle}} {
		if d.v < 0 || d.v > time.Minute {
			errs = append(errs, fmt.Errorf("-%s: %v, want 0..1m", d.name, d.v))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", cfg.timeout}, {"event-timeout", cfg.eventTimeout}, {"open-timeout", cfg.openTimeout}, {"heartbeat", cfg.heartbeat}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("-%s: %v, want more than 0", d.name, d.v))
		}
	}
	if cfg.watchBuffer < 1 {
		errs = append(errs, fmt.Errorf("-watch-buffer: %d, want 1 or more", cfg.watchBuffer))
	}
	return cfg, errors.Join(errs...)
}

// run builds the server if needed, runs every configuration -repeat times
// (repeats interleaved, since the machine is shared and noisy), prints the
// report and fails if any delivery went missing or any run failed.
func run(ctx context.Context, cfg config, args []string) error {
	raiseFileLimit()
	tmp, err := os.MkdirTemp("", "watchload-")
	if err != nil {
		return fmt.Errorf("create temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	opt := serverOptions{
		bin:         cfg.serverBin,
		secret:      benchserver.RandomHex(32),
		adminToken:  benchserver.RandomHex(24),
		heartbeat:   cfg.heartbeat,
		watchBuffer: cfg.watchBuffer,
	}
	if opt.bin == "" {
		if opt.bin, err = benchserver.BuildServer(ctx, tmp, progress); err != nil {
			return err
		}
	}
	described, err := benchserver.DescribeMachine(ctx, cfg.db, cfg.pgURL)
	if err != nil {
		return err
	}
	mach := machine{Machine: described, loadStart: benchserver.LoadAverage()}

	var results []runResult
	var failures []string
runs:
	for r := range cfg.repeat {
		for _, n := range cfg.watchers {
			for _, topo := range cfg.topologies {
				progress("run %d/%d: %d watcher(s), %s, %s, %s", r+1, cfg.repeat, n, topo, cfg.protocol, cfg.db)
				res, err := runOnce(ctx, cfg, opt, tmp, n, topo)
				if ctx.Err() != nil {
					failures = append(failures, fmt.Sprintf("stopped: %v", context.Cause(ctx)))
					break runs
				}
				if err != nil {
					failures = append(failures, fmt.Sprintf("%d watcher(s), %s, run %d: %v", n, topo, r+1, err))
					progress("  failed: %v", err)
					continue
				}
				progress("  %s", res.oneLine())
				results = append(results, res)
			}
		}
	}
	mach.loadEnd = benchserver.LoadAverage()
	rep := newReport(cfg, mach, results, failures)
	writeMarkdown(os.Stdout, rep, args)
	return rep.failure()
}

// raiseFileLimit lifts the soft limit on open files to the hard limit. The
// servers, started as children, inherit it. 10,000 watchers over 100
// connections need few descriptors, but a lower limit elsewhere should not
// decide the result.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= lim.Max {
		return
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		progress("warning: raise RLIMIT_NOFILE: %v", err)
	}
}

// progress writes a progress line to stderr, keeping stdout for the report.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "watchload: "+format+"\n", args...)
}
