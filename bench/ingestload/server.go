package main

import (
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
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"
	_ "modernc.org/sqlite" // registers the "sqlite" driver used to count rows
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

// server is a running callbackd process.
type server struct {
	cmd     *exec.Cmd
	url     string // http://127.0.0.1:PORT
	log     *os.File
	exited  chan struct{}
	waitErr error // set before exited is closed
	stopped bool
}

// startServer starts bin in the given ingest mode on db and a free loopback
// port, and waits until /readyz answers 200. Its logs (warn and above) go to
// a file in the run's directory, so that a noisy server cannot drown the
// report but its complaints are still counted.
func startServer(ctx context.Context, bin, mode string, db *database, secret string) (*server, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(db.dir, "server.log"))
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	cmd := exec.Command(bin,
		"--log-level=warn",
		"--addr="+addr,
		"--data-dir="+db.dir,
		"--database-url="+db.url,
		"--ingest-mode="+mode,
	)
	// The secret goes through the environment rather than argv, and nothing
	// inherited may point the server at another database or secret.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CALLBACKD_") && !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "LLM_WEBHOOK_SECRET=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LLM_WEBHOOK_SECRET=bench="+secret)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &server{cmd: cmd, url: "http://" + addr, log: logFile, exited: make(chan struct{})}
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
	defer s.log.Close()
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

// expectedLog is the warning every non-production ingest mode logs at
// start; it is not a complaint about the load.
const expectedLog = `msg="benchmark ingest mode`

// logSummary returns how many lines the server logged, apart from
// expectedLog, and the first of them.
func (s *server) logSummary() (int, string) {
	data, err := os.ReadFile(s.log.Name())
	if err != nil {
		return 0, ""
	}
	var n int
	var first string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, expectedLog) {
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
	dir      string // the run's directory: SQLite data directory and server log
	url      string // the server's --database-url: empty for SQLite
	adminURL string // PostgreSQL database that creates and drops name
	name     string // PostgreSQL database created for the run
}

// createDatabase makes the run's directory and, on PostgreSQL, a database
// callbackd_bench_<random> through cfg.pgURL.
func createDatabase(ctx context.Context, cfg config, tmp string) (*database, error) {
	dir, err := os.MkdirTemp(tmp, "run-")
	if err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	d := &database{kind: cfg.db, dir: dir}
	if cfg.db != "postgres" {
		return d, nil
	}
	u, err := url.Parse(cfg.pgURL)
	if err != nil {
		return nil, fmt.Errorf("-pg-url: %w", err)
	}
	d.adminURL, d.name = cfg.pgURL, "callbackd_bench_"+randomHex(6)
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

// countRows counts the callbacks the server stored.
func (d *database) countRows(ctx context.Context) (int64, error) {
	driver, dsn := "postgres", d.url
	if d.kind == "sqlite" {
		driver, dsn = "sqlite", filepath.Join(d.dir, "callbackd.db")
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return 0, fmt.Errorf("count stored callbacks: %w", err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM llm_callbacks").Scan(&n); err != nil {
		return 0, fmt.Errorf("count stored callbacks: %w", err)
	}
	return n, nil
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
