package faults_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// Credentials every test server is started with.
const (
	webhookSecret = "faults-webhook-secret"
	adminToken    = "faults-admin-token-0123456789abcdef"
)

// serverProc is one callbackd process, restartable on the same address and
// data (a SQLite directory or a PostgreSQL database).
type serverProc struct {
	t       testing.TB
	name    string
	addr    string
	dataDir string
	dbURL   string
	extra   []string
	logPath string

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's result, set before exited closes
	starts int
}

// newServer prepares (without starting) a server on a free loopback port.
// dbURL empty means SQLite in dataDir (a new temporary directory when empty).
func newServer(t testing.TB, name, dataDir, dbURL string, extra ...string) *serverProc {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	p := &serverProc{
		t:       t,
		name:    name,
		addr:    freeAddr(t),
		dataDir: dataDir,
		dbURL:   dbURL,
		extra:   extra,
		logPath: filepath.Join(t.TempDir(), name+".log"),
	}
	t.Cleanup(func() {
		if p.running() {
			p.kill()
		}
		if t.Failed() {
			t.Logf("%s log (last lines):\n%s", p.name, p.logTail(15))
		}
	})
	return p
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// base is the server's URL.
func (p *serverProc) base() string { return "http://" + p.addr }

// start runs the process and waits until /readyz answers 200.
func (p *serverProc) start() {
	p.t.Helper()
	p.launch()
	if err := p.waitFor("/readyz", 30*time.Second); err != nil {
		p.t.Fatalf("%s (start %d) not ready: %v\n%s", p.name, p.starts, err, p.logTail(30))
	}
}

// startLive runs the process and waits only until it serves (/healthz),
// for tests where the database is expected not to be ready.
func (p *serverProc) startLive() {
	p.t.Helper()
	p.launch()
	if err := p.waitFor("/healthz", 30*time.Second); err != nil {
		p.t.Fatalf("%s (start %d) not serving: %v\n%s", p.name, p.starts, err, p.logTail(30))
	}
}

// launch runs the process.
func (p *serverProc) launch() {
	p.t.Helper()
	args := []string{
		"--addr", p.addr,
		"--data-dir", p.dataDir,
		"--webhook-secret", "main=" + webhookSecret,
		"--admin-token", "ops=" + adminToken,
		"--log-level", "warn",
	}
	if p.dbURL != "" {
		args = append(args, "--database-url", p.dbURL)
	}
	args = append(args, p.extra...)
	logFile, err := os.OpenFile(p.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(logFile, "=== start %d: %s\n", p.starts+1, strings.Join(args, " "))
	cmd := exec.Command(serverBin, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL=", "CALLBACKD_ADMIN_TOKENS=", "LLM_WEBHOOK_SECRET=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd, p.exited, p.err = cmd, make(chan struct{}), nil
	p.starts++
	exited := p.exited
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.err = err
		close(exited)
	}()
}

// running reports whether the process was started and has not exited.
func (p *serverProc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// waitFor polls path until it answers 200 or the process exits.
func (p *serverProc) waitFor(path string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited: %v", p.err)
		default:
		}
		if status(client, p.base()+path) == http.StatusOK {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no 200 from %s within %s", path, limit)
}

// readyz returns the status of GET /readyz, or 0 when there is no answer.
func readyz(client *http.Client, base string) int { return status(client, base+"/readyz") }

// status returns the status of GET url, or 0 when there is no answer.
func status(client *http.Client, url string) int {
	res, err := client.Get(url)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// kill ends the process with SIGKILL (no chance to clean up) and reaps it.
func (p *serverProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("kill %s: %v", p.name, err)
	}
	<-p.exited
}

// terminate sends SIGTERM and waits up to limit for the process to exit. It
// returns the exit code (-1 if it had to be killed) and how long it took.
func (p *serverProc) terminate(limit time.Duration) (code int, took time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(limit):
		p.t.Errorf("%s did not exit within %s of SIGTERM; killing it", p.name, limit)
		p.kill()
		return -1, time.Since(start)
	}
	took = time.Since(start)
	return p.cmd.ProcessState.ExitCode(), took
}

// stop ends the process gracefully and fails the test unless it exits 0.
func (p *serverProc) stop() {
	p.t.Helper()
	if code, took := p.terminate(30 * time.Second); code != 0 {
		p.t.Errorf("%s exited with code %d after %s (want 0)\n%s", p.name, code, took, p.logTail(20))
	}
	p.checkRaces()
}

// checkRaces fails the test if the race detector (FAULTS_SERVER_RACE)
// reported anything in the server's output.
func (p *serverProc) checkRaces() {
	p.t.Helper()
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return
	}
	if i := bytes.Index(b, []byte("WARNING: DATA RACE")); i >= 0 {
		p.t.Errorf("%s: the race detector reported a data race:\n%s", p.name, b[i:min(len(b), i+4000)])
	}
}

// logTail returns the last n lines of the process's output.
func (p *serverProc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = append(l[:300:300], "…"...)
		}
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// sqlitePath is the database file of a SQLite server.
func (p *serverProc) sqlitePath() string { return filepath.Join(p.dataDir, "callbackd.db") }

// waitFor polls cond every 20 ms until it holds or limit passes.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
