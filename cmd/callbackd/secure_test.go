package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/webhook"
)

// buildWith builds callbackd from args as main does, without listening, and
// returns the configuration error, if any.
func buildWith(t *testing.T, args ...string) error {
	t.Helper()
	var cli CLI
	parser, err := newParser(&cli, io.Discard, io.Discard)
	require.NoError(t, err)
	_, err = parser.Parse(append([]string{"--data-dir", t.TempDir()}, args...))
	require.NoError(t, err)
	a, err := cli.ServeFlags.build(t.Context(), slog.New(slog.DiscardHandler), &cli.DatabaseFlags)
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
			require.NotEmpty(t, res.Msg.GetServer().GetVersion())

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
