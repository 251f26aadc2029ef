// Package callbackdtest runs real callbackd processes for tests: Build
// compiles the server, Start runs it on a free loopback port with a fresh
// data directory and known credentials, and Stop ends it. The client's
// examples and callbackctl's tests use it, so that they exercise the
// binaries users run rather than an in-process imitation.
package callbackdtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// Credentials of every test server.
const (
	Secret = "callbackdtest-secret"           // the webhook secret, named "main"
	Token  = "callbackdtest-admin-token-0123" // an admin token, named "test"
)

// Build compiles package pkg of the callbackd module (e.g. "./cmd/callbackd"
// relative to the module root) into dir and returns the binary's path.
func Build(dir, pkg string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, msg)
	}
	return out, nil
}

// moduleRoot returns the directory of the callbackd module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/callbackd/callbackd").Output()
	if err != nil {
		return "", fmt.Errorf("find the callbackd module: %w", err)
	}
	return string(out[:len(out)-1]), nil
}

// Server is a running callbackd.
type Server struct {
	URL     string // http://127.0.0.1:PORT, or https://
	Addr    string // 127.0.0.1:PORT
	DataDir string
	cmd     *exec.Cmd
	exited  chan error
}

// Start runs the callbackd binary on a free loopback port with a data
// directory under dir, the webhook secret Secret, the admin token Token and
// extra flags (e.g. --database-url), and waits until it is ready. With
// --tls-cert among the flags, URL is https://. The server's output goes to
// callbackd.log in its data directory.
func Start(binary, dir string, extra ...string) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp(dir, "data")
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dataDir, "callbackd.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	args := append([]string{"--addr", addr, "--data-dir", dataDir, "--log-level", "warn",
		"--webhook-secret", "main=" + Secret, "--admin-token", "test=" + Token}, extra...)
	scheme := "http"
	if slices.Contains(extra, "--tls-cert") {
		scheme = "https"
	}
	s := &Server{URL: scheme + "://" + addr, Addr: addr, DataDir: dataDir, cmd: exec.Command(binary, args...), exited: make(chan error, 1)}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	if err := s.waitReady(30 * time.Second); err != nil {
		_ = s.Stop()
		log, _ := os.ReadFile(logFile.Name())
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	return s, nil
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls /readyz until it answers 200.
func (s *Server) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The probe only asks whether the server is up; the tests check its
	// certificate with their own clients.
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer probe.CloseIdleConnections()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		if res, err := probe.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-s.exited:
			return fmt.Errorf("callbackd exited before it was ready: %v", err)
		case <-ctx.Done():
			return errors.New("callbackd not ready in time")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the server with SIGTERM, as an orchestrator would, and waits for
// it to exit; after 15 s it kills it.
func (s *Server) Stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-s.exited:
		return err
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		return errors.New("callbackd did not stop within 15 s of SIGTERM")
	}
}
