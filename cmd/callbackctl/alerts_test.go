package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
)

// TestAlertsCommands: `alerts rules` and `alerts deliveries` show what a
// server with --alerts-config decided and sent; without one, alerts are off.
func TestAlertsCommands(t *testing.T) {
	t.Parallel()
	var got atomic.Int32
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	t.Cleanup(chat.Close)
	config := filepath.Join(t.TempDir(), "alerts.yaml")
	require.NoError(t, os.WriteFile(config, fmt.Appendf(nil, `
channels:
  - {name: ops-chat, slack: {url: %q}}
rules:
  - {name: failed-jobs, match: {event: workflow.failed}, group_window: 0s, channels: [ops-chat]}
`, chat.URL), 0o600))
	s := callbackdtest.ForTest(t, callbackdtest.Options{Binary: callbackd, Args: []string{"--alerts-config", config}})
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, s.Stop()) })

	rules := ok(t, s, "alerts", "rules")
	require.Contains(t, rules, "failed-jobs")
	require.Contains(t, rules, "event workflow.failed")
	require.Contains(t, rules, "ops-chat")

	ok(t, s, "send", "--sample", "workflow.failed")
	require.Eventually(t, func() bool { return got.Load() == 1 }, 30*time.Second, 50*time.Millisecond)
	var out string
	require.Eventually(t, func() bool {
		out = ok(t, s, "alerts", "deliveries")
		return strings.Contains(out, " sent ")
	}, 10*time.Second, 100*time.Millisecond)
	require.Contains(t, out, "failed-jobs")
	require.Contains(t, out, "1/12")
	require.Contains(t, out, "1 failure of summarise-document")

	off := startServer(t, "")
	require.Contains(t, ok(t, off, "alerts", "rules"), "alerts are off")
}
