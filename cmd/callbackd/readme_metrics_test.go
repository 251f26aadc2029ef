package main

import (
	"bufio"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

// documentedMetric is one row of the README's metrics table.
type documentedMetric struct {
	kind     string // counter, gauge, histogram
	labels   string // label names, sorted, joined with ","
	postgres bool   // served on PostgreSQL only
}

// readmeMetrics parses the table of the README's "### Metrics" section:
// metric name → what the row says.
func readmeMetrics(t *testing.T) map[string]documentedMetric {
	t.Helper()
	f, err := os.Open("../../README.md")
	require.NoError(t, err)
	defer f.Close()
	row := regexp.MustCompile("^\\|\\s*`(callbackd_[a-z0-9_]+)`\\s*\\|\\s*([a-z]+)\\s*\\|([^|]*)\\|(.*)\\|$")
	label := regexp.MustCompile("`([a-z_]+)`")
	out := map[string]documentedMetric{}
	in := false
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		line := lines.Text()
		if strings.HasPrefix(line, "#") {
			in = line == "### Metrics"
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		m := row.FindStringSubmatch(line)
		require.NotNil(t, m, "README metrics row does not parse: %s", line)
		var labels []string
		for _, l := range label.FindAllStringSubmatch(m[3], -1) {
			labels = append(labels, l[1])
		}
		slices.Sort(labels)
		require.NotContains(t, out, m[1], "README lists %s twice", m[1])
		out[m[1]] = documentedMetric{kind: m[2], labels: strings.Join(labels, ","), postgres: strings.Contains(m[4], "(PostgreSQL only)")}
	}
	require.NoError(t, lines.Err())
	require.NotEmpty(t, out, "README.md has no ### Metrics table")
	return out
}

// servedMetrics scrapes the server's callbackd_* metric families.
func servedMetrics(t *testing.T, srv running) map[string]documentedMetric {
	t.Helper()
	families := metricFamilies(t, srv)
	out := map[string]documentedMetric{}
	for name, f := range families {
		if !strings.HasPrefix(name, "callbackd_") {
			continue
		}
		var labels []string
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		slices.Sort(labels)
		out[name] = documentedMetric{kind: strings.ToLower(f.GetType().String()), labels: strings.Join(labels, ",")}
	}
	return out
}

// TestREADMEListsEveryMetric starts a server on each database, exercises
// every labelled metric so that its vector has a child and shows on
// /metrics (a delivery, a refused admin token, a retention run, an open and
// a refused watch stream), and compares the callbackd_* families served
// with the README's metrics table, both ways: name, type and label names;
// rows marked "(PostgreSQL only)" are served on PostgreSQL alone.
func TestREADMEListsEveryMetric(t *testing.T) {
	t.Parallel()
	documented := readmeMetrics(t)
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL, "--retention-max-rows", "1000000", "--retention-interval", "1h",
			"--max-streams-per-admin", "1")
		ingestN(t, srv, 1)

		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/api/admin/llm-callbacks", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer not-an-admin-token-0123456789")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)

		// A replay the default policy refuses: callbackd_replays_total.
		_, err = adminClient(srv).ReplayCallback(t.Context(), connect.NewRequest(&callbacksv1.ReplayCallbackRequest{Id: uuid.NewString(), TargetUrl: "http://127.0.0.1:9/"}))
		require.Error(t, err)

		w := openWatch(t, srv, "grpc", "")
		defer w.close()
		_, err = w.next()
		require.NoError(t, err)
		require.Error(t, openConnectWatch(t, srv, srv.token), "a second watch of one admin is past --max-streams-per-admin 1")

		want := map[string]documentedMetric{}
		for name, m := range documented {
			if m.postgres && databaseURL == "" {
				continue
			}
			m.postgres = false
			want[name] = m
		}
		var served map[string]documentedMetric
		require.Eventually(t, func() bool { // the retention run at start may still be going
			served = servedMetrics(t, srv)
			_, ok := served["callbackd_prune_runs_total"]
			return ok
		}, 10*time.Second, 20*time.Millisecond, "no retention run")
		for name, m := range served {
			d, ok := want[name]
			if !ok {
				t.Errorf("%s (%s, labels %q) is served but not in the README's metrics table", name, m.kind, m.labels)
				continue
			}
			if d != m {
				t.Errorf("README says %s is a %s with labels %q, served: a %s with labels %q", name, d.kind, d.labels, m.kind, m.labels)
			}
		}
		for name := range want {
			if _, ok := served[name]; !ok {
				t.Errorf("%s is in the README's metrics table but not served", name)
			}
		}
	})
}
