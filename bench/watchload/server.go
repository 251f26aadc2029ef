package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"
)

const (
	startTimeout = 60 * time.Second // migrations included
	stopTimeout  = 30 * time.Second
)

// buildServer builds ./cmd/callbackd of the enclosing module into dir and
// returns the binary's path.
func buildServer(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find the module: run from inside the callbackd module, or pass -server-bin")
	}
	bin := filepath.Join(dir, "callbackd")
	progress("building ./cmd/callbackd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/callbackd")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/callbackd: %w", err)
	}
	return bin, nil
}

// serverOptions is what every server process of a run shares.
type serverOptions struct {
	bin         string
	secret      string // webhook secret, named "bench"
	adminToken  string // admin token, named "bench"
	heartbeat   time.Duration
	watchBuffer int
}

// server is a running callbackd process.
type server struct {
	cmd     *exec.Cmd
	url     string // http://127.0.0.1:PORT
	addr    string // 127.0.0.1:PORT
	logPath string
	exited  chan struct{}
	waitErr error // set before exited is closed
	stopped bool
}

// startServer starts one callbackd on db and a free loopback port, and waits
// until /readyz answers 200. Its logs (warn and above) go to a file in dir,
// so that a noisy server cannot drown the report but its complaints are
// still counted.
func startServer(ctx context.Context, opt serverOptions, db *database, name string) (*server, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(db.dir, name)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if db.kind == "sqlite" {
		dataDir = db.dir // one SQLite file per run
	}
	logPath := filepath.Join(db.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(opt.bin,
		"--log-level=warn",
		"--addr="+addr,
		"--data-dir="+dataDir,
		"--database-url="+db.url,
		"--heartbeat="+opt.heartbeat.String(),
		"--watch-buffer="+strconv.Itoa(opt.watchBuffer),
	)
	// Secrets go through the environment rather than argv, and nothing
	// inherited may point the server at another database or credential.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CALLBACKD_") && !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "LLM_WEBHOOK_SECRET=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LLM_WEBHOOK_SECRET=bench="+opt.secret, "CALLBACKD_ADMIN_TOKENS=bench="+opt.adminToken)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the benchmark dies without cleaning up, the kernel ends the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", opt.bin, err)
	}
	s := &server{cmd: cmd, url: "http://" + addr, addr: addr, logPath: logPath, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls /readyz until it answers 200, the server exits or the
// start timeout passes.
func (s *server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			_, first := s.logSummary()
			return fmt.Errorf("server exited while starting (%v): %s", s.waitErr, first)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := client.Get(s.url + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	return fmt.Errorf("server not ready within %v", startTimeout)
}

// stop sends SIGTERM and waits for the graceful stop, killing the server if
// it takes longer than stopTimeout. It reports an unclean exit.
func (s *server) stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("server did not stop within %v of SIGTERM and was killed", stopTimeout)
	}
	if s.waitErr != nil {
		return fmt.Errorf("server exited with %v after SIGTERM", s.waitErr)
	}
	return nil
}

// rss returns the server's resident set size in bytes (VmRSS).
func (s *server) rss() (int64, error) {
	v := procField(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid), "VmRSS")
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read the server's VmRSS: %q", v)
	}
	return kb << 10, nil
}

// cpuTime returns the CPU time (user and system) the server has used. The
// kernel counts it in clock ticks, 100 per second on Linux.
func (s *server) cpuTime() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read the server's CPU time: %w", err)
	}
	// The fields after the command name, which is in parentheses, start
	// with field 3 (state); utime and stime are fields 14 and 15.
	_, rest, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("read the server's CPU time: short /proc stat %q", truncate(string(data), 100))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("read the server's CPU time: %w", err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// selfCPUTime returns the CPU time this process (the watchers and the
// poster) has used.
func selfCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// metrics reads the gauges named in names from the server's /metrics.
// Missing ones are absent from the result.
func (s *server) metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/metrics", nil)
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

// logSummary returns how many lines the server logged and the first of them.
func (s *server) logSummary() (int, string) {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return 0, ""
	}
	var n int
	var first string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" {
			if n == 0 {
				first = truncate(line, 300)
			}
			n++
		}
	}
	return n, first
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free a
// moment ago.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// database is the fresh database of one run.
type database struct {
	kind     string // "sqlite" or "postgres"
	dir      string // the run's directory: data directories and server logs
	url      string // the servers' --database-url: empty for SQLite
	adminURL string // PostgreSQL database that creates and drops name
	name     string // PostgreSQL database created for the run
}

// createDatabase makes the run's directory and, on PostgreSQL, a database
// callbackd_watchbench_<random> through pgURL.
func createDatabase(ctx context.Context, kind, pgURL, tmp string) (*database, error) {
	dir, err := os.MkdirTemp(tmp, "run-")
	if err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	d := &database{kind: kind, dir: dir}
	if kind != "postgres" {
		return d, nil
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		return nil, fmt.Errorf("-pg-url: %w", err)
	}
	d.adminURL, d.name = pgURL, "callbackd_watchbench_"+randomHex(6)
	if err := d.adminExec(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(d.name)); err != nil {
		return nil, fmt.Errorf("create database %s: %w", d.name, err)
	}
	u.Path = "/" + d.name
	d.url = u.String()
	return d, nil
}

// adminExec runs one statement on the admin database.
func (d *database) adminExec(ctx context.Context, stmt string) error {
	admin, err := sql.Open("postgres", d.adminURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	_, err = admin.ExecContext(ctx, stmt)
	return err
}

// drop removes the run's directory and PostgreSQL database. It does not use
// the run's context, so that an interrupted run still cleans up.
func (d *database) drop() error {
	var err error
	if d.name != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if e := d.adminExec(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(d.name)+" WITH (FORCE)"); e != nil {
			err = fmt.Errorf("drop database %s: %w", d.name, e)
		}
	}
	return errors.Join(err, os.RemoveAll(d.dir))
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// procField returns the value of the first "key: value" line of a /proc
// file, or "unknown".
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// truncate shortens s to at most n bytes for a report.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
