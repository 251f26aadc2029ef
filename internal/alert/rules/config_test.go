package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The minimal file must work as written.
const minimal = `channels:
  - name: ops-chat
    slack: {url: "https://hooks.example.com/services/T000/B000/XXXX"}
rules:
  - name: failed-jobs
    match: {event: workflow.failed}
    channels: [ops-chat]
`

func TestParseMinimal(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(minimal))
	require.NoError(t, err)
	require.Len(t, cfg.Channels, 1)
	require.Equal(t, "slack", cfg.Channels[0].Kind())
	require.Equal(t, Strings{"workflow.failed"}, cfg.Rules[0].Match.Event)
	require.Equal(t, "match", cfg.Rules[0].Kind())
	require.Equal(t, DefaultGroupWindow, cfg.Rules[0].Window())
}

func TestParseFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret\n"), 0o600))
	cfg, err := Parse([]byte(`
channels:
  - name: hook
    webhook: {url: "https://example.com/in", secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD]}
  - name: mail
    email: {host: smtp.example.com, tls: tls, username: u, password_file: ` + pw + `, from: "callbackd <alerts@example.com>", to: [ops@example.com]}
rules:
  - name: burst
    match: {workflow: [a, b], error: {category: rate_limit, retryable: true, contains: [quota]}}
    count: {at_least: 5, within: 10m}
    group_window: 0s
    min_interval: 5m
    channels: [hook, mail]
  - name: rate
    match: {workflow: summarise}
    rate: {above_percent: 20, within: 15m, min_callbacks: 10}
    channels: [hook]
  - name: stuck
    stuck: {after: 30m}
    group_by: job
    channels: [mail]
`))
	require.NoError(t, err)
	email := cfg.Channels[1].Email
	require.Equal(t, 465, email.Port, "tls defaults to port 465")
	require.Equal(t, "s3cret", email.Password)
	require.Equal(t, time.Duration(0), cfg.Rules[0].Window())
	require.Equal(t, []string{"count", "rate", "stuck"}, []string{cfg.Rules[0].Kind(), cfg.Rules[1].Kind(), cfg.Rules[2].Kind()})
}

// Every problem of a file is reported at once.
func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(`
channels:
  - name: a
    slack: {url: "ftp://x"}
  - name: a
    webhook: {url: "https://x", secrets: [nope, "whsec_!!!"]}
  - name: b
    email: {tls: bogus, from: "not an address", to: []}
  - name: c
rules:
  - name: r 1
    match: {status: weird}
    count: {at_least: 0, within: 0s}
    rate: {above_percent: 120, within: 1m, min_callbacks: 0}
    group_by: team
    channels: [missing]
  - name: s
    match: {event: workflow.failed}
    stuck: {after: 1m}
    channels: []
`))
	require.Error(t, err)
	for _, want := range []string{
		`slack.url "ftp://x"`, `"a": name used twice`, `webhook.secrets[0]`, `webhook.secrets[1]`,
		`email.host: required`, `email.tls "bogus"`, `email.from`, `email.to: give at least one`,
		`"c": give exactly one of slack, webhook, email`,
		`name may hold only`, `match.status "weird"`, `give at most one of count, rate, stuck`,
		`count.at_least 0`, `count.within 0s`, `group_by "team"`, `no channel is named "missing"`,
		`a stuck rule selects jobs by workflow only`, `"s": channels: name at least one`,
	} {
		require.Contains(t, err.Error(), want)
	}
}

// TestParseRefusesAuthWithoutTLS: the mail library never sends a password
// in clear, so a channel that would fail every attempt is refused at start.
func TestParseRefusesAuthWithoutTLS(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(`
channels:
  - name: mail
    email: {host: 127.0.0.1, port: 25, tls: none, username: u, password: p, from: "a@example.com", to: [b@example.com]}
rules:
  - name: r
    channels: [mail]
`))
	require.ErrorContains(t, err, "email.username: SMTP AUTH needs tls: starttls or tls, not none")
	_, err = Parse([]byte(`
channels:
  - name: mail
    email: {host: 127.0.0.1, port: 25, tls: none, from: "a@example.com", to: [b@example.com]}
rules:
  - name: r
    channels: [mail]
`))
	require.NoError(t, err, "a local relay without AUTH")
}

func TestParseRefusesUnknownKeys(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(strings.Replace(minimal, "match:", "mach:", 1) + "    colour: red\n"))
	require.ErrorContains(t, err, "field mach not found")
	require.ErrorContains(t, err, "field colour not found")
	_, err = Parse(nil)
	require.ErrorContains(t, err, "empty")
}

func TestParseDetails(t *testing.T) {
	t.Parallel()
	d := ParseDetails([]byte(`{"error":{"category":"rate_limit","retryable":true,"message":"Quota exceeded"}}`))
	require.Equal(t, "rate_limit", d.Category)
	require.True(t, *d.Retryable)
	require.Equal(t, "Quota exceeded", d.Message)
	require.Equal(t, Details{Message: "boom"}, ParseDetails([]byte(`{"error":"boom"}`)))
	require.Equal(t, Details{}, ParseDetails([]byte(`{"error":[1]}`)))
	require.Nil(t, ParseDetails([]byte(`{"error":{"retryable":"maybe"}}`)).Retryable)
}

// TestParseEmailCAFileAndAuth: ca_file is read at start (a missing file or
// one without a certificate is refused, as is a CA for a channel without
// TLS) and auth takes only the mechanisms the channel knows.
func TestParseEmailCAFileAndAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	_, err := Parse(fmt.Appendf(nil, `
channels:
  - {name: a, email: {host: h, ca_file: %q, from: "a@example.com", to: [b@example.com]}}
  - {name: b, email: {host: h, ca_file: %q, from: "a@example.com", to: [b@example.com]}}
  - {name: c, email: {host: h, tls: none, ca_file: %q, from: "a@example.com", to: [b@example.com]}}
  - {name: d, email: {host: h, auth: cram-md5, username: u, password: p, from: "a@example.com", to: [b@example.com]}}
rules:
  - {name: r, channels: [a, b, c, d]}
`, filepath.Join(dir, "missing.pem"), notPEM, notPEM))
	require.Error(t, err)
	for _, want := range []string{
		`"a": email.ca_file: open ` + filepath.Join(dir, "missing.pem"),
		`"b": email.ca_file: ` + notPEM + `: no PEM certificate in it`,
		`"c": email.ca_file: needs tls: starttls or tls, not none`,
		`"d": email.auth "cram-md5": want auto, plain or login`,
	} {
		require.Contains(t, err.Error(), want)
	}
}
