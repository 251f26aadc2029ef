package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	callbackclient "github.com/callbackd/callbackd/clients/go"
	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	"github.com/callbackd/callbackd/internal/buildinfo"
	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/testenv"
	"github.com/callbackd/callbackd/internal/webhook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Built binaries and their temporary directory, set by TestMain.
var (
	tmpDir      string
	callbackd   string
	callbackctl string
)

// TestMain builds callbackd and callbackctl once for every test.
func TestMain(m *testing.M) {
	flag.Parse()
	testenv.Report(testenv.PostgreSQL())
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var err error
	if tmpDir, err = os.MkdirTemp("", "callbackctl-test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmpDir)
	for bin, pkg := range map[*string]string{&callbackd: "./cmd/callbackd", &callbackctl: "./cmd/callbackctl"} {
		if *bin, err = callbackdtest.Build(context.Background(), tmpDir, callbackdtest.BuildOptions{Package: pkg}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// startServer runs callbackd until the test ends; databaseURL "" is SQLite.
func startServer(t *testing.T, databaseURL string) *callbackdtest.Server {
	t.Helper()
	s := callbackdtest.ForTest(t, callbackdtest.Options{Binary: callbackd, DatabaseURL: databaseURL})
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, s.Stop()) })
	return s
}

// databases runs f against a server on SQLite and one on PostgreSQL.
func databases(t *testing.T, f func(t *testing.T, s *callbackdtest.Server)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, startServer(t, ""))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, startServer(t, storetest.PostgresURL(t)))
	})
}

// result is what a callbackctl run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// ctl runs callbackctl against s (nil: no server) with the admin token,
// stdin and args.
func ctl(t *testing.T, s *callbackdtest.Server, stdin []byte, args ...string) result {
	t.Helper()
	cmd := command(t, s, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run callbackctl: %v", err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// command prepares callbackctl with args, configured for s through the
// environment as a user would.
func command(t *testing.T, s *callbackdtest.Server, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), callbackctl, args...)
	cmd.Env = append(os.Environ(), "CALLBACKCTL_TOKEN="+callbackdtest.Token, "LLM_WEBHOOK_SECRET="+callbackdtest.Secret)
	if s != nil {
		cmd.Env = append(cmd.Env, "CALLBACKCTL_SERVER="+s.URL)
	}
	return cmd
}

// ok runs callbackctl and requires exit code 0.
func ok(t *testing.T, s *callbackdtest.Server, args ...string) string {
	t.Helper()
	r := ctl(t, s, nil, args...)
	require.Equal(t, 0, r.code, "callbackctl %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), got, "golden file %s (regenerate with go test -update)", path)
}

// goldenJob is the job id of the callbacks whose table is a golden file.
const goldenJob = "5d1c7b0e-0000-4000-8000-00000000901d"

// sendAnswer is the webhook route's answer.
type sendAnswer struct {
	ID         string `json:"id"`
	CallbackID string `json:"callback_id"`
	Duplicate  bool   `json:"duplicate"`
}

func TestCommands(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, s *callbackdtest.Server) {
		ids := map[string]string{} // by event
		t.Run("send each sample three times", func(t *testing.T) {
			for _, event := range []string{"workflow.completed", "workflow.failed", "llm.step.completed"} {
				out := ok(t, s, "send", "--sample", event, "--job-id", goldenJob, "--repeat", "3", "-o", "json")
				lines := strings.Split(strings.TrimSpace(out), "\n")
				require.Len(t, lines, 3)
				for i, line := range lines {
					var a sendAnswer
					require.NoError(t, json.Unmarshal([]byte(line), &a))
					require.Equal(t, i > 0, a.Duplicate, "delivery %d of %s", i+1, event)
					if i == 0 {
						ids[event] = a.ID
					}
					require.Equal(t, ids[event], a.ID, "redeliveries update the same callback")
				}
			}
		})

		t.Run("list table", func(t *testing.T) {
			out := ok(t, s, "list", "--job", goldenJob, "--columns", "event,workflow,job,step,status,deliveries,viewed")
			golden(t, "list.golden", out)
		})

		t.Run("list json", func(t *testing.T) {
			var callbacks []struct {
				ID            string `json:"id"`
				EventType     string `json:"event_type"`
				Status        string `json:"status"`
				DeliveryCount int    `json:"delivery_count"`
			}
			require.NoError(t, json.Unmarshal([]byte(ok(t, s, "-o", "json", "list", "--job", goldenJob)), &callbacks))
			require.Len(t, callbacks, 3)
			for _, cb := range callbacks {
				require.Equal(t, ids[cb.EventType], cb.ID)
				require.Equal(t, 3, cb.DeliveryCount)
			}
			out := ok(t, s, "-o", "json", "list", "--job", goldenJob, "--status", "error")
			require.NoError(t, json.Unmarshal([]byte(out), &callbacks))
			require.Len(t, callbacks, 1)
			require.Equal(t, "CALLBACK_STATUS_ERROR", callbacks[0].Status)
		})

		t.Run("get and get --raw", func(t *testing.T) {
			// Already in the sender's form, so send delivers exactly these bytes.
			body := []byte(`{"event":"workflow.completed","job_id":"raw-job","result":{"score":1.0,"text":"caf\u00e9 <script>alert(1)</script>"},"status":"completed","timestamp":"2025-12-20T10:30:00.123456+00:00Z","workflow_name":"raw"}`)
			var a sendAnswer
			require.NoError(t, json.Unmarshal([]byte(ctlStdin(t, s, body, "-o", "json", "send", "--file", "-")), &a))
			require.Equal(t, string(body), ok(t, s, "get", a.ID, "--raw"))

			var got struct {
				ID          string         `json:"id"`
				Payload     []byte         `json:"payload"`
				PayloadJSON map[string]any `json:"payload_json"`
			}
			require.NoError(t, json.Unmarshal([]byte(ok(t, s, "get", a.ID)), &got))
			require.Equal(t, a.ID, got.ID)
			require.Equal(t, body, got.Payload)
			require.Equal(t, "raw-job", got.PayloadJSON["job_id"])
		})

		t.Run("view", func(t *testing.T) {
			id := ids["workflow.failed"]
			require.Contains(t, ok(t, s, "view", id), "viewed "+id+" by test at ")
			out := ok(t, s, "list", "--job", goldenJob, "--status", "error", "--columns", "event,viewed")
			require.Equal(t, "EVENT            VIEWED\nworkflow.failed  yes\n", out)
		})

		t.Run("list --q, stats and view-all", func(t *testing.T) {
			out := ok(t, s, "list", "--job", goldenJob, "--q", "timed out", "--total", "--columns", "event,status")
			require.Equal(t, "EVENT            STATUS\nworkflow.failed  error\n1 shown of 1\n", out)
			var page struct {
				Callbacks []struct {
					EventType string `json:"event_type"`
				} `json:"callbacks"`
				TotalSize string `json:"total_size"`
			}
			require.NoError(t, json.Unmarshal([]byte(ok(t, s, "-o", "json", "list", "--job", goldenJob, "--q", `"key figures"`, "--total")), &page))
			require.Len(t, page.Callbacks, 1)
			require.Equal(t, "llm.step.completed", page.Callbacks[0].EventType)
			require.Equal(t, "1", page.TotalSize)

			var stats struct {
				Total struct {
					Count              string            `json:"count"`
					FailuresByCategory map[string]string `json:"failures_by_category"`
					TotalTokens        string            `json:"total_tokens"`
					DurationCount      string            `json:"duration_count"`
				} `json:"total"`
				Workflows []struct {
					WorkflowName string `json:"workflow_name"`
				} `json:"workflows"`
			}
			require.NoError(t, json.Unmarshal([]byte(ok(t, s, "-o", "json", "stats", "--job", goldenJob, "--bucket", "day")), &stats))
			require.Equal(t, "3", stats.Total.Count)
			require.Equal(t, map[string]string{"provider": "1"}, stats.Total.FailuresByCategory)
			require.Equal(t, "1210", stats.Total.TotalTokens, "the step's tokens; the workflow's cost_data restates them")
			require.Equal(t, "2", stats.Total.DurationCount)
			require.Len(t, stats.Workflows, 1)
			table := ok(t, s, "stats", "--job", goldenJob)
			require.Contains(t, table, "BUCKET ")
			require.Contains(t, table, "summarise-document  3 ")

			require.Equal(t, "marked 2 callbacks viewed\n", ok(t, s, "view-all", "--job", goldenJob), "the failed one was viewed before")
			require.Equal(t, "marked 0 callbacks viewed\n", ok(t, s, "view-all", "--job", goldenJob))
			out = ok(t, s, "list", "--job", goldenJob, "--unviewed", "--columns", "event")
			require.Equal(t, "EVENT\n", out)
		})

		t.Run("watch", func(t *testing.T) {
			for _, format := range []string{"table", "json"} {
				next := startWatch(t, s, "watch", "-o", format)
				job := "watch-" + format
				ok(t, s, "send", "--job-id", job)
				line := next()
				if format == "json" {
					var ev struct {
						Cursor   string `json:"cursor"`
						Received struct {
							ExternalJobID string `json:"external_job_id"`
						} `json:"received"`
					}
					require.NoError(t, json.Unmarshal([]byte(line), &ev), line)
					require.Equal(t, job, ev.Received.ExternalJobID)
					require.NotEmpty(t, ev.Cursor)
				} else {
					require.Contains(t, line, " received workflow.completed workflow=summarise-document job="+job+" status=processed deliveries=1 id=")
				}
			}
		})

		t.Run("forward", func(t *testing.T) {
			target, requests, bodies := captureServer(t)
			next := startWatch(t, s, "forward", "--to", target, "--secret", "forward-secret")
			var a sendAnswer
			require.NoError(t, json.Unmarshal([]byte(ok(t, s, "-o", "json", "send", "--sample", "workflow.failed")), &a))

			r, body := <-requests, <-bodies
			require.Equal(t, ok(t, s, "get", a.ID, "--raw"), string(body), "the exact body")
			require.Equal(t, "workflow.failed", r.Header.Get("X-Webhook-Event"))
			require.Equal(t, "LLM Job Service/1.0", r.Header.Get("User-Agent"))
			v, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{webhook.SchemeLLM: {"fwd=forward-secret"}}})
			require.NoError(t, err)
			res, err := v.Verify(r.Header, body)
			require.NoError(t, err, "re-signed with the forward secret")
			require.Equal(t, "fwd", res.KeyName)
			require.Contains(t, next(), "received workflow.failed id="+a.ID+" -> 200")
		})

		t.Run("exit codes", func(t *testing.T) {
			for name, tc := range map[string]struct {
				args []string
				code int
			}{
				"bad token":            {[]string{"--token", "wrong-token-0123456789", "list"}, exitAuth},
				"bad token on watch":   {[]string{"--token", "wrong-token-0123456789", "watch"}, exitAuth},
				"no token":             {[]string{"--token", "", "get", ids["workflow.failed"]}, exitAuth},
				"webhook wrong secret": {[]string{"send", "--secret", "not-the-secret"}, exitAuth},
				"unknown id":           {[]string{"get", "00000000-0000-4000-8000-000000000000"}, exitNotFound},
				"view unknown id":      {[]string{"view", "00000000-0000-4000-8000-000000000000"}, exitNotFound},
				"unknown flag":         {[]string{"list", "--no-such-flag"}, exitUsage},
				"bad enum":             {[]string{"-o", "yaml", "list"}, exitUsage},
				"missing argument":     {[]string{"get"}, exitUsage},
				"unknown column":       {[]string{"list", "--columns", "id,colour"}, exitUsage},
				"zero repeat":          {[]string{"send", "--repeat", "0"}, exitUsage},
				"server down":          {[]string{"--server", "http://127.0.0.1:1", "list"}, exitError},
			} {
				t.Run(name, func(t *testing.T) {
					r := ctl(t, s, nil, tc.args...)
					require.Equal(t, tc.code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
				})
			}
		})
	})
}

// ctlStdin runs callbackctl with stdin and requires success.
func ctlStdin(t *testing.T, s *callbackdtest.Server, stdin []byte, args ...string) string {
	t.Helper()
	r := ctl(t, s, stdin, args...)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	return r.stdout
}

// startWatch runs a long-lived callbackctl command (watch, forward) from
// the server's current cursor, until the test ends, and returns a function
// that returns its next output line.
func startWatch(t *testing.T, s *callbackdtest.Server, args ...string) func() string {
	t.Helper()
	client, err := callbackclient.New(s.URL, callbackclient.Options{Token: callbackdtest.Token})
	require.NoError(t, err)
	defer client.Close()
	now, err := client.Check(t.Context(), "")
	require.NoError(t, err)

	cmd := command(t, s, append(args, "--cursor", now.GetNextCursor())...) // killed when the test ends
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
	}()
	t.Cleanup(func() { _ = cmd.Wait() })
	return func() string {
		t.Helper()
		select {
		case line, open := <-lines:
			if !open {
				t.Fatalf("%s ended: %s", args[0], stderr.String())
			}
			return line
		case <-time.After(10 * time.Second):
			t.Fatalf("%s printed nothing within 10 s: %s", args[0], stderr.String())
			return ""
		}
	}
}

// captureServer records the requests sent to it and answers 200.
func captureServer(t *testing.T) (string, <-chan *http.Request, <-chan []byte) {
	requests := make(chan *http.Request, 16)
	bodies := make(chan []byte, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		requests <- r
		bodies <- b
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, requests, bodies
}

// TestSendSignsAsTheSender checks send's deliveries with an HMAC computed
// here, with callbackd's verifier, and with callbackctl verify.
func TestSendSignsAsTheSender(t *testing.T) {
	t.Parallel()
	url, requests, bodies := captureServer(t)
	const secret = "independent-secret"
	ok(t, nil, "send", "--url", url, "--secret", secret, "--sample", "llm.step.completed", "--step-id", "summarise")
	r, body := <-requests, <-bodies

	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	require.Equal(t, "sha256="+hex.EncodeToString(m.Sum(nil)), r.Header.Get("X-Webhook-Signature"))
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, "llm.step.completed", r.Header.Get("X-Webhook-Event"))
	require.Equal(t, "LLM Job Service/1.0", r.Header.Get("User-Agent"))

	var payload map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&payload))
	require.Equal(t, "summarise", payload["step_id"])
	python, err := webhook.PythonJSON(payload)
	require.NoError(t, err)
	require.Equal(t, string(python), string(body), "compact, sorted keys: Python's json.dumps")

	out := ctlStdin(t, nil, body, "verify", "--signature", r.Header.Get("X-Webhook-Signature"), "--secret", secret)
	require.Equal(t, "OK: the signature verifies with secret #1 (llm)\n", out)
}

// TestSendSchemes checks that each opt-in scheme's deliveries pass
// callbackd's own verifier.
func TestSendSchemes(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"llm":               "llm-secret",
		"github":            "github-secret",
		"stripe":            "whsec_stripe-secret",
		"standard-webhooks": "whsec_c2VjcmV0LWJ5dGVzLWZvci1zdGFuZGFyZA==",
	}
	v, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{
		webhook.SchemeLLM:      {"k=" + secrets["llm"]},
		webhook.SchemeGitHub:   {"k=" + secrets["github"]},
		webhook.SchemeStripe:   {"k=" + secrets["stripe"]},
		webhook.SchemeStandard: {"k=" + secrets["standard-webhooks"]},
	}})
	require.NoError(t, err)
	schemeNames := map[string]string{"llm": webhook.SchemeLLM, "github": webhook.SchemeGitHub, "stripe": webhook.SchemeStripe, "standard-webhooks": webhook.SchemeStandard}
	for scheme, secret := range secrets {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			url, requests, bodies := captureServer(t)
			ok(t, nil, "send", "--url", url, "--scheme", scheme, "--secret", secret, "--repeat", "2")
			for range 2 {
				res, err := v.Verify((<-requests).Header, <-bodies)
				require.NoError(t, err)
				require.Equal(t, schemeNames[scheme], res.Scheme)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	const secret = "verify-secret"
	body, err := webhook.PythonJSON(map[string]any{"event": "workflow.completed", "job_id": "j", "result": map[string]any{"text": "café"}})
	require.NoError(t, err)
	sig := webhook.SignLLM(secret, body)
	digits := strings.TrimPrefix(sig, "sha256=")
	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, body, "", "  "))
	spaced := bytes.ReplaceAll(bytes.ReplaceAll(body, []byte(`":`), []byte(`": `)), []byte(`,"`), []byte(`, "`))
	untrimmed := hmac.New(sha256.New, []byte(secret+"\n"))
	untrimmed.Write(body)
	stale := time.Now().Add(-time.Hour)

	for name, tc := range map[string]struct {
		body []byte
		args []string
		code int
		want string
	}{
		"valid":                      {body, []string{"--signature", sig, "--secret", "other", "--secret", secret}, exitOK, "OK: the signature verifies with secret #2 (llm)"},
		"valid, secret with spaces":  {body, []string{"--signature", sig, "--secret", " " + secret + "\n"}, exitOK, "note: secret #1 has whitespace around it"},
		"wrong secret":               {body, []string{"--signature", sig, "--secret", "nope"}, exitVerifyFailed, "- wrong secret: the signature matches none of the 1 secret(s) given"},
		"development secret":         {body, []string{"--signature", webhook.SignLLM(webhook.DevelopmentLLMSecret, body), "--secret", "nope"}, exitVerifyFailed, "development secret"},
		"signed with whitespace":     {body, []string{"--signature", "sha256=" + hex.EncodeToString(untrimmed.Sum(nil)), "--secret", secret}, exitVerifyFailed, `- whitespace around the secret: the signature was made with secret #1 followed by "\n"`},
		"missing prefix":             {body, []string{"--signature", digits, "--secret", secret}, exitVerifyFailed, "- missing \"sha256=\" prefix"},
		"upper-case hex":             {body, []string{"--signature", "sha256=" + strings.ToUpper(digits), "--secret", secret}, exitVerifyFailed, "- upper-case hex"},
		"body re-serialised, pretty": {pretty.Bytes(), []string{"--signature", sig, "--secret", secret}, exitVerifyFailed, "- body re-serialised: the signature matches this JSON written as compact with sorted keys"},
		"body re-serialised, spaced": {spaced, []string{"--signature", sig, "--secret", secret}, exitVerifyFailed, "- body re-serialised"},
		"malformed":                  {body, []string{"--signature", "sha256=zz", "--secret", secret}, exitVerifyFailed, "- malformed signature"},
		"stripe, stale":              {body, []string{"--scheme", "stripe", "--signature", webhook.SignStripe(secret, stale, body), "--secret", secret}, exitVerifyFailed, "- timestamp outside tolerance: the signature verifies with secret #1 but was made 1h0m"},
		"stripe, fresh":              {body, []string{"--scheme", "stripe", "--signature", webhook.SignStripe(secret, time.Now(), body), "--secret", secret}, exitOK, "OK"},
		"standard, stale":            {body, standardArgs(t, body, stale), exitVerifyFailed, "- timestamp outside tolerance"},
		"standard, fresh":            {body, standardArgs(t, body, time.Now()), exitOK, "OK"},
		"stripe, malformed":          {body, []string{"--scheme", "stripe", "--signature", "t=1,v1=zz", "--secret", secret}, exitVerifyFailed, "- malformed signature: want t=<unix>,v1=<hex>"},
		"stripe, bad timestamp":      {body, []string{"--scheme", "stripe", "--signature", "t=soon,v1=00", "--secret", secret}, exitVerifyFailed, "- malformed timestamp: t= must be unix seconds"},
		"standard, bad timestamp":    {body, []string{"--scheme", "standard-webhooks", "--id", "m", "--timestamp", "soon", "--signature", "v1,AAAA", "--secret", "whsec_AAAA"}, exitVerifyFailed, "- malformed timestamp: webhook-timestamp must be unix seconds"},
		"standard, malformed":        {body, []string{"--scheme", "standard-webhooks", "--id", "m", "--timestamp", "1", "--signature", "v1,!!", "--secret", "whsec_AAAA"}, exitVerifyFailed, "- malformed signature: want space-separated v1,<base64> entries"},
		"standard without --id":      {body, []string{"--scheme", "standard-webhooks", "--signature", "v1,AAAA", "--secret", "whsec_AAAA"}, exitUsage, ""},
		"no secret":                  {body, []string{"--signature", sig}, exitUsage, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), callbackctl, append([]string{"verify"}, tc.args...)...)
			cmd.Env = []string{} // no LLM_WEBHOOK_SECRET from the environment
			cmd.Stdin = bytes.NewReader(tc.body)
			out, _ := cmd.Output()
			require.Equal(t, tc.code, cmd.ProcessState.ExitCode(), "%s", out)
			require.Contains(t, string(out), tc.want)
		})
	}
}

// standardArgs signs body as a Standard Webhooks sender at ts and returns
// the matching verify flags.
func standardArgs(t *testing.T, body []byte, ts time.Time) []string {
	const secret = "whsec_c2VjcmV0LWJ5dGVzLWZvci1zdGFuZGFyZA=="
	sig, err := webhook.SignStandard(secret, "msg_1", ts, body)
	require.NoError(t, err)
	return []string{"--scheme", "standard-webhooks", "--id", "msg_1", "--timestamp", fmt.Sprint(ts.Unix()), "--signature", sig, "--secret", secret}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	out := ok(t, nil, "--help")
	for _, want := range []string{"CALLBACKCTL_SERVER", "CALLBACKCTL_TOKEN", "Exit codes: 0 success, 1 error, 2 usage", "3", "4 not found", "5 verification failed"} {
		require.Contains(t, out, want)
	}
	require.Contains(t, ok(t, nil, "forward", "--help"), "never stores the original signatures")
}

// TestVersion: --version prints the build and exits 0 without a server.
func TestVersion(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run(t.Context(), []string{"--version"}, nil, &stdout, &stderr))
	require.Equal(t, "callbackctl "+buildinfo.Read().String()+"\n", stdout.String())
	require.Empty(t, stderr.String())
}

// TestReplay: callbackctl replay has the server deliver a callback's exact
// body to a receiver on loopback (the server opens it with --replay-allow),
// unsigned without --secret and signed with one, and exits 1 when the
// server's policy refuses the target, 2 for a URL that is not http(s).
func TestReplay(t *testing.T) {
	t.Parallel()
	s := callbackdtest.ForTest(t, callbackdtest.Options{Binary: callbackd, Args: []string{"--replay-allow", "127.0.0.0/8"}})
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, s.Stop()) })
	var a sendAnswer
	require.NoError(t, json.Unmarshal([]byte(ok(t, s, "-o", "json", "send", "--sample", "workflow.completed")), &a))
	raw := ok(t, s, "get", a.ID, "--raw")
	target, requests, bodies := captureServer(t)

	for _, protocol := range []string{"grpc", "connect"} {
		r := ctl(t, s, nil, "--protocol", protocol, "replay", a.ID, "--to", target+"/hook")
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stderr, "unsigned")
		require.Regexp(t, `^200 in \S+ from 127\.0\.0\.1:\d+ \(\d+ bytes sent, unsigned\)\n`, r.stdout)
		require.Contains(t, r.stdout, `{"ok":true}`)
		req, body := <-requests, <-bodies
		require.Equal(t, raw, string(body), "the exact body")
		require.Empty(t, req.Header.Get(webhook.HeaderLLMSignature))

		r = ctl(t, s, nil, "--protocol", protocol, "-o", "json", "replay", a.ID, "--to", target, "--secret", "replay-secret")
		require.Equal(t, 0, r.code, r.stderr)
		var res struct {
			StatusCode      int    `json:"status_code"`
			SignatureScheme string `json:"signature_scheme"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &res), r.stdout)
		require.Equal(t, 200, res.StatusCode)
		require.Equal(t, "llm", res.SignatureScheme)
		req, body = <-requests, <-bodies
		require.Equal(t, raw, string(body))
		require.Equal(t, webhook.SignLLM("replay-secret", body), req.Header.Get(webhook.HeaderLLMSignature))
	}

	r := ctl(t, s, nil, "replay", a.ID, "--to", "http://169.254.169.254/latest/meta-data/")
	require.Equal(t, exitError, r.code, r.stderr)
	require.Contains(t, r.stderr, "169.254.169.254")
	require.Contains(t, r.stderr, "link-local")
	r = ctl(t, s, nil, "replay", a.ID, "--to", "ftp://example.com/")
	require.Equal(t, exitUsage, r.code, r.stderr)
	r = ctl(t, s, nil, "replay", "00000000-0000-4000-8000-000000000000", "--to", target)
	require.Equal(t, exitNotFound, r.code, r.stderr)
	require.Len(t, requests, 0, "nothing sent for a refusal")
}
