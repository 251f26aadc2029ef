// Package callbackdtest runs real callbackd processes for tests and
// benchmarks: Build compiles the server (once per test process, from
// TestMain), Start runs it on a free loopback port with a data directory,
// known credentials and extra flags, waits until it is ready and captures its
// output in a log file; Stop, Terminate and Kill end it, and Start again
// restarts it on the same address and data.
//
// The Go client's examples, callbackctl's tests, the fault tests and the
// benchmark programs all use it, so that they exercise the binary users run
// rather than an in-process imitation, and start it the same way. It is
// public so that integration tests of programs built on the Go client can do
// the same.
package callbackdtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Credentials of every server whose Options leave them empty.
const (
	Secret = "callbackdtest-secret"           // the webhook secret, named "main"
	Token  = "callbackdtest-admin-token-0123" // an admin token, named "test"
)

// Default bounds of starting and stopping a server.
const (
	DefaultStartTimeout = 60 * time.Second // migrations included
	DefaultStopTimeout  = 30 * time.Second
)

// BuildOptions say how Build compiles a binary.
type BuildOptions struct {
	// Package is the main package to build, relative to the callbackd
	// module's root: "./cmd/callbackd" when empty. With Module it is built
	// in that module, e.g. an import path of one of its tool directives.
	Package string
	// Module, if set, is the directory of another module inside the
	// callbackd checkout, relative to its root (e.g. "tools/mailpit"): test
	// programs pinned in their own module so that their dependencies stay
	// out of callbackd's. Package "." is the module's own main package,
	// named after the module's directory.
	Module string
	// Race builds with the race detector; a server built so fails Stop when
	// it reported a data race.
	Race bool
	// Tags are build tags.
	Tags []string
	// Output, if not nil, receives the compiler's output as it runs;
	// otherwise the output is kept for the error of a failed build.
	Output io.Writer
}

// Build compiles o.Package of the callbackd module into dir and returns the
// binary's path. It finds the module with the go command, so it works inside
// the callbackd checkout and in any module that requires callbackd. A test
// process builds once, in TestMain, and starts as many servers as it needs.
func Build(ctx context.Context, dir string, o BuildOptions) (string, error) {
	pkg := o.Package
	if pkg == "" {
		pkg = "./cmd/callbackd"
	}
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/callbackd/callbackd").Output()
	if err != nil {
		return "", fmt.Errorf("find the callbackd module (go list -m): %w", err)
	}
	name := filepath.Base(pkg)
	if name == "." { // the module's own main package
		name = filepath.Base(filepath.FromSlash(o.Module))
	}
	args := []string{"build"}
	if o.Race {
		args = append(args, "-race")
		name += "-race"
	}
	if len(o.Tags) > 0 {
		args = append(args, "-tags", strings.Join(o.Tags, ","))
	}
	bin := filepath.Join(dir, name)
	args = append(args, "-o", bin, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join(strings.TrimSpace(string(root)), filepath.FromSlash(o.Module))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if o.Output != nil {
		cmd.Stdout, cmd.Stderr = o.Output, o.Output
	}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out.Bytes())
	}
	return bin, nil
}

// Options say how a Server runs.
type Options struct {
	// Binary is the callbackd binary (see Build).
	Binary string
	// Name names the server in errors and names its default log file; empty
	// means "callbackd".
	Name string
	// DataDir is the server's --data-dir, where SQLite keeps its file;
	// required (ForTest makes one).
	DataDir string
	// DatabaseURL is the server's --database-url; empty means SQLite.
	DatabaseURL string
	// LogPath is the file that receives the server's output, appended to
	// across restarts; empty means NAME.log in DataDir.
	LogPath string
	// LogLevel is the server's --log-level; empty means warn, so that
	// what the server logs is worth reading.
	LogLevel string
	// WebhookSecret and AdminToken are the server's credentials, as
	// NAME=VALUE; empty means "main="+Secret and "test="+Token. They reach
	// the server through its environment (LLM_WEBHOOK_SECRET,
	// CALLBACKD_ADMIN_TOKENS), where ps does not show them.
	WebhookSecret, AdminToken string
	// TLSCert and TLSKey, if set, are the server's --tls-cert and --tls-key
	// (see SelfSignedCert); the server's URL is then https://.
	TLSCert, TLSKey string
	// Args are further flags, e.g. "--heartbeat=1ms".
	Args []string
	// Env is added to the server's environment. Start first strips the
	// inherited environment of CALLBACKD_*, DATABASE_URL,
	// LLM_WEBHOOK_SECRET and OTEL_*, so that nothing inherited points the
	// server at another database, credential or trace collector.
	Env []string
	// StartTimeout and StopTimeout bound Start and Stop; zero means
	// DefaultStartTimeout and DefaultStopTimeout.
	StartTimeout, StopTimeout time.Duration
	// SysProcAttr, if not nil, is the process's exec.Cmd.SysProcAttr: for
	// example Pdeathsig on Linux, so that the kernel ends the server if its
	// parent dies without cleaning up. It is the caller's, because such
	// attributes are not portable.
	SysProcAttr *syscall.SysProcAttr
}

// Server is one callbackd process, restartable on the same address and data.
// Its methods are not safe for concurrent use.
type Server struct {
	URL         string // http://127.0.0.1:PORT, or https://
	Addr        string // 127.0.0.1:PORT
	DataDir     string
	DatabaseURL string
	LogPath     string

	opt     Options
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process has exited
	waitErr error         // the current process's Wait result, set before exited closes
	ended   bool          // the current process was ended by Stop, Terminate or Kill
	starts  int
}

// New prepares a server on a free loopback port without starting it.
func New(o Options) (*Server, error) {
	if o.Binary == "" || o.DataDir == "" {
		return nil, errors.New("callbackdtest: Options.Binary and Options.DataDir are required")
	}
	if o.Name == "" {
		o.Name = "callbackd"
	}
	if o.LogPath == "" {
		o.LogPath = filepath.Join(o.DataDir, o.Name+".log")
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if o.TLSCert != "" {
		scheme = "https"
	}
	return &Server{URL: scheme + "://" + addr, Addr: addr, DataDir: o.DataDir, DatabaseURL: o.DatabaseURL, LogPath: o.LogPath, opt: o}, nil
}

// Start prepares a server (New) and starts it (Server.Start).
func Start(ctx context.Context, o Options) (*Server, error) {
	s, err := New(o)
	if err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ForTest prepares a server for t without starting it: DataDir and LogPath
// default to new temporary directories of t. When t ends, a server still
// running is killed, and if t failed, the end of its log is logged.
func ForTest(t testing.TB, o Options) *Server {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.LogPath == "" {
		name := o.Name
		if name == "" {
			name = "callbackd"
		}
		o.LogPath = filepath.Join(t.TempDir(), name+".log")
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.Running() {
			_ = s.Kill()
		}
		if t.Failed() && s.starts > 0 {
			t.Logf("%s log (last lines):\n%s", s.opt.Name, s.LogTail(15))
		}
	})
	return s
}

// Start runs the server and waits until GET /readyz answers 200. If it does
// not, Start kills the server and returns why, with the end of its log.
func (s *Server) Start(ctx context.Context) error { return s.start(ctx, "/readyz") }

// StartLive runs the server and waits only until it serves (GET /healthz
// answers 200), for a server whose database is expected not to be ready.
func (s *Server) StartLive(ctx context.Context) error { return s.start(ctx, "/healthz") }

// start runs the process and waits until path answers 200.
func (s *Server) start(ctx context.Context, path string) error {
	if s.Running() {
		return fmt.Errorf("%s: already running", s.opt.Name)
	}
	if err := s.launch(); err != nil {
		return err
	}
	if err := s.waitFor(ctx, path); err != nil {
		if s.Running() {
			_ = s.Kill()
		}
		return fmt.Errorf("%s (start %d): %w\n%s", s.opt.Name, s.starts, err, s.LogTail(30))
	}
	return nil
}

// launch starts the process, its output appended to the log.
func (s *Server) launch() error {
	o := s.opt
	level := o.LogLevel
	if level == "" {
		level = "warn"
	}
	args := []string{"--addr=" + s.Addr, "--data-dir=" + o.DataDir, "--log-level=" + level}
	if o.DatabaseURL != "" {
		args = append(args, "--database-url="+o.DatabaseURL)
	}
	if o.TLSCert != "" {
		args = append(args, "--tls-cert="+o.TLSCert, "--tls-key="+o.TLSKey)
	}
	args = append(args, o.Args...)
	logFile, err := os.OpenFile(s.LogPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("%s: open log: %w", o.Name, err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	if s.starts > 0 {
		fmt.Fprintf(logFile, "=== start %d: %s\n", s.starts+1, strings.Join(args, " "))
	}
	secret, token := o.WebhookSecret, o.AdminToken
	if secret == "" {
		secret = "main=" + Secret
	}
	if token == "" {
		token = "test=" + Token
	}
	cmd := exec.Command(o.Binary, args...)
	cmd.Env = append(childEnv(os.Environ()), "LLM_WEBHOOK_SECRET="+secret, "CALLBACKD_ADMIN_TOKENS="+token)
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = o.SysProcAttr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %s: %w", o.Name, o.Binary, err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited, s.waitErr, s.ended = cmd, exited, nil, false
	s.starts++
	go func() {
		err := cmd.Wait()
		s.waitErr = err
		close(exited)
	}()
	return nil
}

// childEnv returns environ without the variables that could point the server
// at another database or credential, or send its traces somewhere (OTEL_*:
// a test that wants tracing sets them in Options.Env).
func childEnv(environ []string) []string {
	var env []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "CALLBACKD_") && !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "LLM_WEBHOOK_SECRET=") && !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitFor polls path until it answers 200, the process exits, ctx ends or
// the start timeout passes.
func (s *Server) waitFor(ctx context.Context, path string) error {
	limit := s.opt.StartTimeout
	if limit == 0 {
		limit = DefaultStartTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// The probe only asks whether the server is up; tests check its
	// certificate with their own clients.
	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer probe.CloseIdleConnections()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
		if err != nil {
			return err
		}
		if res, err := probe.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("exited before %s answered 200: %v", path, s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("no 200 from %s within %s: %w", path, limit, context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Running reports whether the server was started and has not exited.
func (s *Server) Running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Starts returns how many times the server was started.
func (s *Server) Starts() int { return s.starts }

// Pid returns the process id of the server's current (or last) process, for
// reading its figures from /proc; 0 before the first start.
func (s *Server) Pid() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// SQLitePath is the database file of a server on SQLite.
func (s *Server) SQLitePath() string { return filepath.Join(s.DataDir, "callbackd.db") }

// Kill ends the server with SIGKILL, giving it no chance to clean up, and
// waits until it has exited.
func (s *Server) Kill() error {
	if s.cmd == nil {
		return nil
	}
	s.ended = true
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: kill: %w", s.opt.Name, err)
	}
	<-s.exited
	return nil
}

// Terminate sends SIGTERM, as an orchestrator would, and waits up to limit
// for the server to exit. It returns the exit code; if the server had to be
// killed, -1 and an error.
func (s *Server) Terminate(limit time.Duration) (int, error) {
	if s.cmd == nil {
		return 0, fmt.Errorf("%s: not started", s.opt.Name)
	}
	s.ended = true
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return -1, fmt.Errorf("%s: SIGTERM: %w", s.opt.Name, err)
	}
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode(), nil
	case <-time.After(limit):
		_ = s.Kill()
		return -1, fmt.Errorf("%s did not exit within %s of SIGTERM and was killed", s.opt.Name, limit)
	}
}

// Stop ends the server gracefully (Terminate with the stop timeout) and
// reports an unclean exit: killed after the timeout, an exit code other than
// 0, a data race reported by a -race build, or a process that had already
// exited by itself. Stopping a server that is not running because it was
// never started or was already ended does nothing, so that a deferred Stop
// is safe.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	if !s.Running() {
		if s.ended {
			return nil
		}
		s.ended = true
		return fmt.Errorf("%s had exited by itself: %v", s.opt.Name, s.waitErr)
	}
	limit := s.opt.StopTimeout
	if limit == 0 {
		limit = DefaultStopTimeout
	}
	code, err := s.Terminate(limit)
	if err != nil {
		return err
	}
	if race := s.DataRace(); race != "" {
		return fmt.Errorf("%s: the race detector reported a data race:\n%s", s.opt.Name, race)
	}
	if code != 0 {
		return fmt.Errorf("%s exited with code %d after SIGTERM (want 0)", s.opt.Name, code)
	}
	return nil
}

// Log returns the server's output so far, of every start.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b)
}

// LogTail returns the last n lines of the server's output, each shortened
// to 300 bytes.
func (s *Server) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(s.Log(), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

// DataRace returns the first data race report in the server's output (of a
// -race build), up to 4000 bytes, or "".
func (s *Server) DataRace() string {
	log := s.Log()
	i := strings.Index(log, "WARNING: DATA RACE")
	if i < 0 {
		return ""
	}
	return log[i:min(len(log), i+4000)]
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
