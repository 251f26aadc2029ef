package faults_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
)

// Credentials every test server is started with (callbackdtest's defaults).
const (
	webhookSecret = callbackdtest.Secret
	adminToken    = callbackdtest.Token
)

// newServer prepares (without starting) a server of serverBin on a free
// loopback port, killed when the test ends. dbURL empty means SQLite in
// dataDir (a new temporary directory when empty).
func newServer(t testing.TB, name, dataDir, dbURL string, extra ...string) *callbackdtest.Server {
	t.Helper()
	return callbackdtest.ForTest(t, callbackdtest.Options{
		Binary:      serverBin,
		Name:        name,
		DataDir:     dataDir,
		DatabaseURL: dbURL,
		Args:        extra,
	})
}

// mustStart runs srv and fails the test unless it becomes ready.
func mustStart(t testing.TB, srv *callbackdtest.Server) {
	t.Helper()
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// mustStartLive runs srv and waits only until it serves (/healthz), for tests
// where the database is expected not to be ready.
func mustStartLive(t testing.TB, srv *callbackdtest.Server) {
	t.Helper()
	if err := srv.StartLive(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// mustKill ends srv with SIGKILL (no chance to clean up).
func mustKill(t testing.TB, srv *callbackdtest.Server) {
	t.Helper()
	if err := srv.Kill(); err != nil {
		t.Error(err)
	}
}

// mustStop ends srv gracefully and fails the test unless it exits 0 without a
// data race.
func mustStop(t testing.TB, srv *callbackdtest.Server) {
	t.Helper()
	if err := srv.Stop(); err != nil {
		t.Errorf("%v\n%s", err, srv.LogTail(20))
	}
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
