package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	"github.com/callbackd/callbackd/internal/bench/benchserver"
)

// serverOptions is what every server process of a run shares.
type serverOptions struct {
	bin         string
	secret      string // webhook secret, named "bench"
	adminToken  string // admin token, named "bench"
	heartbeat   time.Duration
	watchBuffer int
}

// server is a running callbackd process, with the figures watchload reads
// from it.
type server struct {
	*callbackdtest.Server
}

// startServer starts one callbackd, called name, on db and a free loopback
// port, and waits until it is ready. Its data directory (on PostgreSQL) and
// its log, name.log, are in the run's directory.
func startServer(ctx context.Context, opt serverOptions, db *benchserver.Database, name string) (*server, error) {
	dataDir := filepath.Join(db.Dir, name)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if db.Kind == "sqlite" {
		dataDir = db.Dir // one SQLite file per run
	}
	s, err := callbackdtest.Start(ctx, callbackdtest.Options{
		Binary:      opt.bin,
		Name:        name,
		DataDir:     dataDir,
		DatabaseURL: db.URL,
		LogPath:     filepath.Join(db.Dir, name+".log"),
		Args: []string{
			"--heartbeat=" + opt.heartbeat.String(),
			"--watch-buffer=" + strconv.Itoa(opt.watchBuffer),
		},
		WebhookSecret: "bench=" + opt.secret,
		AdminToken:    "bench=" + opt.adminToken,
		// One admin opens every watcher, so the server's stream caps (32
		// per admin by default) must not count: they are not what this
		// measures. Environment variables, not flags, so that binaries
		// older than the caps still start.
		Env: []string{"CALLBACKD_MAX_STREAMS=1000000", "CALLBACKD_MAX_STREAMS_PER_ADMIN=1000000"},
		// If the benchmark dies without cleaning up, the kernel ends the server.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return nil, err
	}
	return &server{s}, nil
}

// rss returns the server's resident set size in bytes (VmRSS).
func (s *server) rss() (int64, error) {
	v := benchserver.ProcField(fmt.Sprintf("/proc/%d/status", s.Pid()), "VmRSS")
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read the server's VmRSS: %q", v)
	}
	return kb << 10, nil
}

// metrics reads the gauges named in names from the server's /metrics.
// Missing ones are absent from the result.
func (s *server) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("read /metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for _, n := range names {
			if name == n {
				if f, err := strconv.ParseFloat(value, 64); err == nil {
					out[n] = f
				}
			}
		}
	}
	return out, sc.Err()
}
