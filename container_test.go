package callbackd

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// nonroot is distroless's non-root user, which the Dockerfile runs as.
const nonroot = 65532

// TestContainerImageOffline proves, without a container registry, what the
// Dockerfile promises: tools/release.sh (which the Dockerfile runs) builds a
// static binary with the version stamped; laid out as the image lays it out
// (/usr/local/bin, /data owned by the non-root user, nothing else), it runs
// chrooted there as uid 65532 with the image's environment, the root
// mounted read-only and only /data writable: it becomes ready, its
// HEALTHCHECK command succeeds, it stores a delivery, and it stops cleanly
// on SIGTERM.
func TestContainerImageOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds release binaries; skipped with -short")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs Linux and root (chroot, a read-only bind mount, a non-root uid)")
	}
	for _, tool := range []string{"unshare", "chroot", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	dist := t.TempDir()
	build := exec.CommandContext(t.Context(), "tools/release.sh", "-o", dist, "linux/"+runtime.GOARCH)
	build.Env = append(os.Environ(), "VERSION=v0.0.0-container-test", "COMMIT=0123456789abcdef")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	bin := filepath.Join(dist, "callbackd-linux-"+runtime.GOARCH)

	// Static: no interpreter, no shared libraries.
	f, err := elf.Open(bin)
	require.NoError(t, err)
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "the binary asks for a dynamic loader")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	require.Empty(t, libs)
	require.NoError(t, f.Close())
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	require.NoError(t, err)
	require.Contains(t, string(sums), "callbackd-linux-"+runtime.GOARCH)

	// The image's filesystem: root-owned and read-only but for /data.
	root := filepath.Join(t.TempDir(), "rootfs")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "usr/local/bin"), 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(root, "data"), 0o700))
	require.NoError(t, os.Chown(filepath.Join(root, "data"), nonroot, nonroot))
	copyFile(t, bin, filepath.Join(root, "usr/local/bin/callbackd"))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	const secret = "container-test-webhook-secret-0123"
	env := []string{
		// The Dockerfile's ENV, then what an operator sets.
		fmt.Sprintf("CALLBACKD_ADDR=0.0.0.0:%d", port), "CALLBACKD_DATA_DIR=/data", "CALLBACKD_LOG_FORMAT=json",
		"LLM_WEBHOOK_SECRET=main=" + secret, "PATH=/usr/local/bin",
	}
	// A private mount namespace: the root bind-mounted onto itself
	// read-only with /data a writable submount (a submount keeps its own
	// flags, as a volume does), then chroot as the non-root user; exec all
	// the way, so that the process signalled is callbackd.
	const script = `set -e; PATH=/usr/sbin:/usr/bin:/sbin:/bin; mount --bind "$1" "$1"; mount --bind "$1/data" "$1/data"; mount -o remount,bind,ro "$1"; shift; exec "$@"`
	chrooted := func(args ...string) *exec.Cmd {
		full := append([]string{"--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh", root,
			"chroot", fmt.Sprintf("--userspec=%d:%d", nonroot, nonroot), root}, args...)
		cmd := exec.CommandContext(t.Context(), "unshare", full...)
		cmd.Env = env
		return cmd
	}

	var logs bytes.Buffer
	server := chrooted("/usr/local/bin/callbackd")
	server.Stdout, server.Stderr = &logs, &logs
	require.NoError(t, server.Start())
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	t.Cleanup(func() {
		if server.ProcessState == nil {
			_ = server.Process.Kill()
		}
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	ready := false
	for range 300 {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				ready = true
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("callbackd exited: %v\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	require.True(t, ready, "callbackd did not become ready:\n%s", logs.String())

	// The image's HEALTHCHECK: the binary itself, no shell, same env.
	hc, err := chrooted("/usr/local/bin/callbackd", "healthcheck").CombinedOutput()
	require.NoError(t, err, "%s", hc)
	require.Contains(t, string(hc), "200 OK")
	version, err := chrooted("/usr/local/bin/callbackd", "--version").CombinedOutput()
	require.NoError(t, err, "%s", version)
	require.Equal(t, "callbackd v0.0.0-container-test (commit 0123456789abcdef, "+runtime.Version()+")\n", string(version))

	body := []byte(`{"event":"workflow.completed","job_id":"6a0f7d5e-5d8a-4c61-9a4c-2d0f8f1b7c11","status":"completed","workflow_name":"w","timestamp":"2025-12-20T10:30:00.123456+00:00Z"}`)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/api/webhooks/llm-callback", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req.Header.Set("X-Webhook-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, logs.String())

	require.NoError(t, server.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "callbackd on SIGTERM:\n%s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("callbackd did not stop on SIGTERM:\n%s", logs.String())
	}

	// Everything it wrote is in /data, owned by the non-root user.
	var written []string
	require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." || rel == "usr" || rel == "usr/local" || rel == "usr/local/bin" || rel == "usr/local/bin/callbackd" || rel == "data" {
			return nil
		}
		require.True(t, strings.HasPrefix(rel, "data/"), "written outside /data: %s", rel)
		info, err := d.Info()
		require.NoError(t, err)
		require.Equal(t, uint32(nonroot), info.Sys().(*syscall.Stat_t).Uid, rel)
		written = append(written, rel)
		return nil
	}))
	require.Contains(t, written, "data/callbackd.db")
	require.NotContains(t, logs.String(), `"level":"ERROR"`)
}

// copyFile copies an executable.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o555))
}
