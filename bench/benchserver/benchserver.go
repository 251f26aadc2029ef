// Package benchserver runs callbackd for the benchmark programs under bench/
// (ingestload, watchload): it builds the server binary, gives every run a
// fresh database, starts the server as a child process on a free loopback
// port, waits until it is ready and stops it again.
//
// It exists so that the programs measure the server the same way: the same
// build, the same environment filter, the same readiness check, the same
// graceful stop and the same cleanup after an interrupted run. What differs
// between them (server flags, secrets, what they read from the process) stays
// in the programs and reaches this package through [Options].
package benchserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	startTimeout = 60 * time.Second // migrations included
	stopTimeout  = 30 * time.Second
)

// Build builds ./cmd/callbackd of the enclosing module into dir, with the
// given build tags (such as "benchmodes", which adds the ingest benchmark's
// reference modes), and returns the binary's path. It announces the build
// through progress, since it takes a while, and sends the compiler's output
// to stderr, keeping stdout for the report. It fails outside the callbackd
// module; the error tells the user to pass the program's -server-bin
// instead.
func Build(ctx context.Context, dir string, progress func(format string, args ...any), tags ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find the module: run from inside the callbackd module, or pass -server-bin")
	}
	bin := filepath.Join(dir, "callbackd")
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	progress("building ./cmd/callbackd %s", strings.Join(args[3:], " "))
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/callbackd")...)
	cmd.Dir = filepath.Dir(gomod)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/callbackd: %w", err)
	}
	return bin, nil
}

// Options says how [Start] runs one server process.
type Options struct {
	// Bin is the callbackd binary.
	Bin string
	// DataDir and DatabaseURL are the server's --data-dir and
	// --database-url (empty for SQLite, which lives in DataDir).
	DataDir     string
	DatabaseURL string
	// LogPath is the file that receives the server's output.
	LogPath string
	// Args are the server flags beyond --log-level=warn, --addr, --data-dir
	// and --database-url, which Start sets itself.
	Args []string
	// Env is added to the inherited environment, which Start first strips
	// of CALLBACKD_*, DATABASE_URL and LLM_WEBHOOK_SECRET so that nothing
	// inherited points the server at another database or credential.
	// Secrets belong here rather than in Args, where ps would show them.
	Env []string
	// IgnoreLog, if not empty, marks log lines that [Server.LogSummary]
	// does not count: a warning the server always logs in this
	// configuration is not a complaint about the load.
	IgnoreLog string
	// SysProcAttr, if not nil, is the child's [exec.Cmd.SysProcAttr]; for
	// example Pdeathsig on Linux, so that the kernel ends the server if the
	// benchmark dies without cleaning up. It is the caller's, because such
	// attributes are not portable.
	SysProcAttr *syscall.SysProcAttr
}

// Server is a running callbackd process started by [Start].
type Server struct {
	URL     string // http://127.0.0.1:PORT
	Addr    string // 127.0.0.1:PORT
	LogPath string // the server's output, at warn and above

	cmd       *exec.Cmd
	ignoreLog string
	exited    chan struct{}
	waitErr   error // set before exited is closed
	stopped   bool
}

// Start starts opt.Bin on a free loopback port and waits until GET /readyz
// answers 200. The server logs at warn and above to opt.LogPath, so that a
// noisy server cannot drown the report but its complaints are still counted
// ([Server.LogSummary]). If the server does not become ready, Start stops it
// and reports why, with its first log line if it exited.
func Start(ctx context.Context, opt Options) (*Server, error) {
	addr, err := FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(opt.LogPath)
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	args := append([]string{
		"--log-level=warn",
		"--addr=" + addr,
		"--data-dir=" + opt.DataDir,
		"--database-url=" + opt.DatabaseURL,
	}, opt.Args...)
	cmd := exec.Command(opt.Bin, args...)
	cmd.Env = childEnv(os.Environ(), opt.Env)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = opt.SysProcAttr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", opt.Bin, err)
	}
	s := &Server{
		URL:       "http://" + addr,
		Addr:      addr,
		LogPath:   opt.LogPath,
		cmd:       cmd,
		ignoreLog: opt.IgnoreLog,
		exited:    make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// childEnv returns environ without the variables that could point the server
// at another database or credential, followed by extra.
func childEnv(environ, extra []string) []string {
	var env []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "CALLBACKD_") && !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "LLM_WEBHOOK_SECRET=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// waitReady polls /readyz until it answers 200, the server exits or the
// start timeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			_, first := s.LogSummary()
			return fmt.Errorf("server exited while starting (%v): %s", s.waitErr, first)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := client.Get(s.URL + "/readyz")
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

// Pid returns the server's process id, for reading its figures from /proc.
func (s *Server) Pid() int {
	return s.cmd.Process.Pid
}

// Stop sends SIGTERM and waits for the graceful stop, killing the server if
// it takes longer than 30 seconds. It reports an unclean exit. Calls after
// the first do nothing and return nil, so that a deferred Stop is safe.
func (s *Server) Stop() error {
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

// LogSummary returns how many non-empty lines the server logged, apart from
// those containing [Options.IgnoreLog], and the first of them, shortened to
// 300 bytes for the report.
func (s *Server) LogSummary() (int, string) {
	data, err := os.ReadFile(s.LogPath)
	if err != nil {
		return 0, ""
	}
	return summarize(string(data), s.ignoreLog)
}

// summarize is LogSummary on the log's text.
func summarize(log, ignore string) (int, string) {
	var n int
	var first string
	for line := range strings.Lines(log) {
		line = strings.TrimSpace(line)
		if line == "" || ignore != "" && strings.Contains(line, ignore) {
			continue
		}
		if n == 0 {
			first = Truncate(line, 300)
		}
		n++
	}
	return n, first
}

// FreeLoopbackAddr returns a 127.0.0.1 address with a port that was free a
// moment ago.
func FreeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// RandomHex returns n random bytes in hex, for secrets, tokens and database
// names.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// Truncate shortens s to at most n bytes, followed by "…", so that a server's
// answer or log line cannot swamp a report.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
