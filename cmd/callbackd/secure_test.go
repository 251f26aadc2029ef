package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/auth"
	"github.com/callbackd/callbackd/internal/buildinfo"
	"github.com/callbackd/callbackd/internal/webhook"
)

// buildWith completes and opens callbackd from args as main does, without
// listening, and returns the configuration error, if any.
func buildWith(t *testing.T, args ...string) error {
	t.Helper()
	a, err := openForTest(t.Context(), slog.New(slog.DiscardHandler), append([]string{"--data-dir", t.TempDir()}, args...)...)
	if err == nil {
		a.close()
	}
	return err
}

// TestDevelopmentSecretOnlyOnLoopback: off loopback, callbackd refuses to
// start without its own webhook secret, and refuses the sender's public
// development secret given explicitly; on loopback the development default
// still works.
func TestDevelopmentSecretOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	dev := webhook.DevelopmentLLMSecret
	for _, tc := range []struct {
		name string
		args []string
		want []string // nil: builds
	}{
		{"every interface, no secret", []string{"--addr", "0.0.0.0:8080"}, []string{"--webhook-secret", "LLM_WEBHOOK_SECRET", "not a loopback"}},
		{"empty host, no secret", []string{"--addr", ":8080"}, []string{"--webhook-secret", "LLM_WEBHOOK_SECRET"}},
		{"IPv6 any, no secret", []string{"--addr", "[::]:8080"}, []string{"--webhook-secret", "LLM_WEBHOOK_SECRET"}},
		{"public address, no secret", []string{"--addr", "192.0.2.10:8080"}, []string{"--webhook-secret", "LLM_WEBHOOK_SECRET"}},
		{"host name, no secret", []string{"--addr", "callbackd.example:8080"}, []string{"--webhook-secret", "LLM_WEBHOOK_SECRET"}},
		{"explicit development secret", []string{"--addr", "0.0.0.0:8080", "--webhook-secret", "dev=" + dev}, []string{"--webhook-secret", "LLM_WEBHOOK_SECRET", "public development secret is refused"}},
		{"development secret among others, bare, padded", []string{"--addr", "0.0.0.0:8080", "--webhook-secret", "main=real-secret-0123456789,  " + dev + "  "}, []string{"public development secret is refused"}},
		{"reported with every other problem", []string{"--addr", "0.0.0.0:8080", "--max-body-bytes", "0", "--trusted-proxy", "10.0.0.0", "--max-json-depth", "1"},
			[]string{"--webhook-secret", "LLM_WEBHOOK_SECRET", "--max-body-bytes", "--trusted-proxy", "--max-json-depth"}},

		{"loopback IPv4, no secret", []string{"--addr", "127.0.0.1:8080"}, nil},
		{"loopback range, no secret", []string{"--addr", "127.0.0.2:8080"}, nil},
		{"loopback IPv6, no secret", []string{"--addr", "[::1]:8080"}, nil},
		{"localhost, explicit development secret", []string{"--addr", "localhost:8080", "--webhook-secret", dev}, nil},
		{"every interface, own secret", []string{"--addr", "0.0.0.0:8080", "--webhook-secret", "main=real-secret-0123456789"}, nil},
		{"a secret that merely contains the development one", []string{"--addr", "0.0.0.0:8080", "--webhook-secret", "main=" + dev + "-not"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := buildWith(t, tc.args...)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "real-secret-0123456789", "an error message must not repeat a secret")
		})
	}
}

// TestServerInfoReportsTheDevelopmentSecret: GetServerInfo, what the web UI
// shows its warning from, tells whether the development secret verifies
// deliveries, on Connect and REST, and is true exactly when it does.
func TestServerInfoReportsTheDevelopmentSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want bool
	}{
		{"default", nil, true},
		{"explicit among others", []string{"--webhook-secret", "main=" + testSecret + ",dev=" + webhook.DevelopmentLLMSecret}, true},
		{"own secret", []string{"--webhook-secret", "main=" + testSecret}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServerArgs(t, "", tc.args...)
			res, err := adminClient(srv).GetServerInfo(t.Context(), connect.NewRequest(&callbacksv1.GetServerInfoRequest{}))
			require.NoError(t, err)
			require.Equal(t, tc.want, res.Msg.GetServer().GetDevelopmentSecret())
			build := buildinfo.Read()
			require.Equal(t, build.Version, res.Msg.GetServer().GetVersion())
			require.Equal(t, build.Commit, res.Msg.GetServer().GetCommit())
			require.Equal(t, build.GoVersion, res.Msg.GetServer().GetGoVersion())

			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/api/admin/server-info", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+srv.token)
			rest, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer rest.Body.Close()
			require.Equal(t, http.StatusOK, rest.StatusCode)
			var body struct {
				Server struct {
					DevelopmentSecret *bool `json:"development_secret"`
				} `json:"server"`
			}
			require.NoError(t, json.NewDecoder(rest.Body).Decode(&body))
			require.NotNil(t, body.Server.DevelopmentSecret)
			require.Equal(t, tc.want, *body.Server.DevelopmentSecret)

			// The report is honest: the development secret verifies exactly
			// when it says so.
			job := uuid.NewString()
			b := payload(t, "workflow.completed", job, nil)
			got := delivery{body: b, headers: map[string]string{
				"X-Webhook-Signature": webhook.SignLLM(webhook.DevelopmentLLMSecret, b),
				"X-Webhook-Event":     "workflow.completed",
			}}.send(t, srv.base)
			if tc.want {
				require.Equal(t, http.StatusOK, got.status, got.body)
			} else {
				require.Equal(t, http.StatusUnauthorized, got.status, got.body)
			}
		})
	}
}

// runUntilListening runs callbackd as main does, with stderr (not a
// terminal) collected, until it listens; the test's end stops it.
func runUntilListening(t *testing.T, args ...string) (stderr *syncBuffer, base string) {
	t.Helper()
	stderr = &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), io.Discard, stderr) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	listening := regexp.MustCompile(`msg=listening addr=(\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			return stderr, "http://" + m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("callbackd stopped: %v\n%s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("callbackd did not listen:\n%s", stderr)
	return nil, ""
}

// TestLogsCarryNoSecrets runs the whole server, as main does, with
// credentials in the database URL (userinfo and query) and in the JWKS URL,
// and no admin credential, so that it generates a token. Its whole output
// (stderr, not a terminal: the structured log) holds none of them, and
// points to the token file instead of printing the login URL; the server
// works, and the token from the file logs in.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		secrets := []string{"db-pw-SECRET", "db-q-SECRET", "jwks-user-SECRET", "jwks-pw-SECRET", "jwks-q-SECRET"}
		var database []string
		if databaseURL != "" {
			u, err := url.Parse(databaseURL)
			require.NoError(t, err)
			// Trust authentication ignores the password: the URL still works.
			u.User = url.UserPassword(u.User.Username(), "db-pw-SECRET")
			u.RawQuery += "&password=db-q-SECRET"
			database = []string{"--database-url", u.String()}
		}
		common := append([]string{"--log-level", "debug", "--webhook-secret", "main=" + testSecret}, database...)
		// An identity provider that cannot be reached: the failed fetch,
		// whose error quotes the URL, is logged.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := ln.Addr().String()
		require.NoError(t, ln.Close())
		jwks := "http://jwks-user-SECRET:jwks-pw-SECRET@" + closed + "/jwks?token=jwks-q-SECRET"
		// With a JWKS URL no token is generated: a second server without it
		// (a replica, on PostgreSQL) shows the generated-token path.
		stderr, base := runUntilListening(t, append([]string{"--data-dir", t.TempDir(), "--jwks-url", jwks}, common...)...)
		dataDir := t.TempDir()
		stderr2, base2 := runUntilListening(t, append([]string{"--data-dir", dataDir}, common...)...)

		token, err := os.ReadFile(filepath.Join(dataDir, auth.GeneratedTokenFile))
		require.NoError(t, err)
		tok := strings.TrimSpace(string(token))
		require.NotEmpty(t, tok)
		for _, srv := range []struct{ base, token string }{{base, ""}, {base2, tok}} {
			// The servers work: a delivery, and (with the token) an admin call.
			job := uuid.NewString()
			b := payload(t, "workflow.completed", job, nil)
			require.Equal(t, http.StatusOK, delivery{body: b, headers: signed(b, "workflow.completed")}.send(t, srv.base).status)
			if srv.token != "" {
				_, err := adminClient(running{base: srv.base, token: srv.token}).GetServerInfo(t.Context(), connect.NewRequest(&callbacksv1.GetServerInfoRequest{}))
				require.NoError(t, err)
			}
		}

		out := stderr.String() + stderr2.String()
		require.Contains(t, out, "database opened")
		require.Contains(t, out, "fetch JWKS")
		for _, s := range append(secrets, tok, url.QueryEscape(tok)) {
			require.NotContains(t, out, s)
		}
		require.NotContains(t, out, "#token=")
		require.Contains(t, stderr2.String(), "token_file="+filepath.Join(dataDir, auth.GeneratedTokenFile))
	})
}

// TestLoginURLOnlyOnATerminal: the generated token's login URL is printed,
// in plain text, to a terminal only; otherwise the log names the token file.
func TestLoginURLOnlyOnATerminal(t *testing.T) {
	t.Parallel()
	const login = "http://127.0.0.1:8080/#token=generated-token-0123456789"
	var logs, term bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	announceLogin(log, console{w: &term}, "/var/lib/callbackd", login)
	require.Contains(t, term.String(), login)
	require.Contains(t, term.String(), "/var/lib/callbackd/admin-token")
	require.Empty(t, logs.String(), "nothing about the token in the structured log")

	term.Reset()
	announceLogin(log, console{}, "/var/lib/callbackd", login)
	require.Empty(t, term.String())
	require.NotContains(t, logs.String(), "generated-token-0123456789")
	require.Contains(t, logs.String(), `"token_file":"/var/lib/callbackd/admin-token"`)
	require.Contains(t, logs.String(), `"ui":"http://127.0.0.1:8080/"`)

	// What decides: whether standard error is a terminal (a character
	// device), as for a pseudo-terminal; not a pipe, a file or a buffer.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	defer f.Close()
	require.False(t, isTerminal(w))
	require.False(t, isTerminal(f))
	require.False(t, isTerminal(&bytes.Buffer{}))
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to check the positive case: %v", err)
	}
	defer pty.Close()
	require.True(t, isTerminal(pty))
}

// TestPublicSecretsAndCriticalJWTsBesideLegitimateTraffic: on a server with
// its own webhook secret, deliveries signed with the sender's public
// development secret get 401 and store nothing, and admin JWTs with a crit
// header get 401 on Connect and REST, while signed deliveries flow untouched
// and the same JWT without crit is an admin.
func TestPublicSecretsAndCriticalJWTsBesideLegitimateTraffic(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL, "--jwt-hs256-secret", jwtSecret, "--jwt-admin-claim", "app_metadata.role=ADMIN")
		mint := func(header map[string]any) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
				"sub": uuid.NewString(), "exp": time.Now().Add(time.Hour).Unix(),
				"app_metadata": map[string]any{"role": "ADMIN"},
			})
			for k, v := range header {
				tok.Header[k] = v
			}
			s, err := tok.SignedString([]byte(jwtSecret))
			require.NoError(t, err)
			return s
		}
		info := func(token string) (connectCode connect.Code, restStatus int) {
			req := connect.NewRequest(&callbacksv1.GetServerInfoRequest{})
			req.Header().Set("Authorization", "Bearer "+token)
			_, err := callbacksv1connect.NewCallbackAdminServiceClient(http.DefaultClient, srv.base).GetServerInfo(t.Context(), req)
			r, rerr := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/api/admin/server-info", nil)
			require.NoError(t, rerr)
			r.Header.Set("Authorization", "Bearer "+token)
			res, rerr := http.DefaultClient.Do(r)
			require.NoError(t, rerr)
			res.Body.Close()
			if err != nil {
				connectCode = connect.CodeOf(err)
			}
			return connectCode, res.StatusCode
		}
		before := countRows(t, srv)
		legitimate := startLegitimateTraffic(t, srv, 4)
		func() {
			// Past the failure limiter's burst (20) the forgeries get 429,
			// while the legitimate sender on the same address is served.
			for i := range 40 {
				b := payload(t, "workflow.completed", uuid.NewString(), nil)
				got := delivery{body: b, headers: map[string]string{
					"X-Webhook-Signature": webhook.SignLLM(webhook.DevelopmentLLMSecret, b),
					"X-Webhook-Event":     "workflow.completed",
				}}.send(t, srv.base)
				if i < 20 {
					require.Equal(t, http.StatusUnauthorized, got.status, got.body)
				} else {
					require.Contains(t, []int{http.StatusUnauthorized, http.StatusTooManyRequests}, got.status, got.body)
				}
				if i < 15 && i%3 == 0 { // within the admin failure budget (20)
					code, status := info(mint(map[string]any{"crit": []string{"x-ext"}, "x-ext": true}))
					require.Equal(t, connect.CodeUnauthenticated, code)
					require.Equal(t, http.StatusUnauthorized, status)
				}
			}
		}()
		legitimate.check(t)
		code, status := info(mint(map[string]any{"x-ext": true}))
		require.Equal(t, connect.Code(0), code)
		require.Equal(t, http.StatusOK, status)
		// Only the legitimate deliveries were stored: one row each.
		require.Equal(t, before+len(legitimate.sent), countRows(t, srv))
	})
}
