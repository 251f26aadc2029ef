// Package benchserver holds what the benchmark programs under bench/
// (ingestload, watchload) share beyond running callbackd, which
// clients/go/callbackdtest does for them as for the tests: a fresh database
// per run, readings of CPU time by process id and of the machine, the
// description of the machine for the report, and the summary of what a
// server logged.
//
// It exists so that the programs measure the server the same way; what
// differs between them (server flags, what they read from the process) stays
// in the programs.
package benchserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
)

// LogSummary returns how many non-empty lines the server logged to logPath,
// apart from those containing ignore (when not empty; a warning the server
// always logs in a configuration is not a complaint about the load), and
// the first of them, shortened to 300 bytes for the report.
func LogSummary(logPath, ignore string) (int, string) {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return 0, ""
	}
	return summarize(string(data), ignore)
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

// RandomHex returns n random bytes in hex, for secrets, tokens and database
// names.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// Sleep waits d, or returns false if ctx ends first (or has ended, when d
// is not positive).
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Truncate shortens s to at most n bytes, followed by "…", so that a server's
// answer or log line cannot swamp a report.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// BuildServer builds callbackd into dir with callbackdtest.Build and returns
// the binary's path. It announces the build through progress, since it takes
// a while, and sends the compiler's output to stderr, keeping stdout for the
// report. Outside the callbackd module it fails, telling the user to pass the
// program's -server-bin instead.
func BuildServer(ctx context.Context, dir string, progress func(format string, args ...any), tags ...string) (string, error) {
	progress("building ./cmd/callbackd %s", strings.Join(tags, ","))
	bin, err := callbackdtest.Build(ctx, dir, callbackdtest.BuildOptions{Output: os.Stderr, Tags: tags})
	if err != nil {
		return "", fmt.Errorf("%w (run from inside the callbackd module, or pass -server-bin)", err)
	}
	return bin, nil
}
