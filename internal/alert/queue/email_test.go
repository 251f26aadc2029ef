package queue_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	"github.com/callbackd/callbackd/internal/alert/channel"
	"github.com/callbackd/callbackd/internal/alert/queue"
	"github.com/callbackd/callbackd/internal/alert/rules"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// testPKI writes a CA and a certificate it signs for 127.0.0.1 into dir,
// PEM-encoded: the CA's certificate, the server's certificate and key.
func testPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "callbackd test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", leafDER), write("server-key.pem", "EC PRIVATE KEY", keyDER)
}

// mailpit is a real SMTP server (tools/mailpit) whose HTTP API lists what
// it received.
type mailpit struct {
	port int
	api  string
}

// startMailpit runs bin with the extra flags on two free loopback ports
// until t ends, and waits until its API answers.
func startMailpit(t *testing.T, bin string, flags ...string) mailpit {
	t.Helper()
	smtpAddr, err := callbackdtest.FreeAddr()
	require.NoError(t, err)
	httpAddr, err := callbackdtest.FreeAddr()
	require.NoError(t, err)
	dir := t.TempDir()
	args := append([]string{"--smtp", smtpAddr, "--listen", httpAddr, "--database", filepath.Join(dir, "mailpit.db"),
		"--smtp-disable-rdns", "--disable-version-check", "--quiet"}, flags...)
	cmd := exec.CommandContext(t.Context(), bin, args...)
	logFile, err := os.Create(filepath.Join(dir, "mailpit.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logFile.Name()); err == nil {
				t.Logf("mailpit %v log:\n%s", flags, b)
			}
		}
	})
	m := mailpit{api: "http://" + httpAddr}
	_, port, _ := strings.Cut(smtpAddr, ":")
	_, err = fmt.Sscan(port, &m.port)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		res, err := http.Get(m.api + "/api/v1/messages")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "mailpit did not start")
	return m
}

// subjects lists the subjects of the messages Mailpit received.
func (m mailpit) subjects(t *testing.T) []string {
	t.Helper()
	res, err := http.Get(m.api + "/api/v1/messages")
	require.NoError(t, err)
	defer res.Body.Close()
	var list struct {
		Messages []struct{ Subject string } `json:"messages"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&list))
	var out []string
	for _, msg := range list.Messages {
		out = append(out, msg.Subject)
	}
	return out
}

// TestEmailTLSAndAuth sends one alert to five e-mail channels against real
// Mailpit servers that require TLS and SMTP AUTH, with a certificate of a
// private CA: it arrives over STARTTLS with AUTH PLAIN and over implicit
// TLS with AUTH LOGIN, both trusting the CA through ca_file; a wrong
// password, a certificate no ca_file vouches for, and a server that offers
// no STARTTLS each give a failed delivery whose error says why. The
// channel does not depend on the database, so SQLite alone runs it.
func TestEmailTLSAndAuth(t *testing.T) {
	t.Parallel()
	bin, err := callbackdtest.Build(t.Context(), t.TempDir(), callbackdtest.BuildOptions{Module: "tools/mailpit", Package: "github.com/axllent/mailpit"})
	require.NoError(t, err)
	dir := t.TempDir()
	caFile, certFile, keyFile := testPKI(t, dir)
	authFile := filepath.Join(dir, "smtp-auth")
	require.NoError(t, os.WriteFile(authFile, []byte("alerts:s3cret-pass\n"), 0o600))
	tlsFlags := []string{"--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-auth-file", authFile}
	starttls := startMailpit(t, bin, append(tlsFlags, "--smtp-require-starttls")...)
	implicit := startMailpit(t, bin, append(tlsFlags, "--smtp-require-tls")...)
	plain := startMailpit(t, bin) // offers no STARTTLS

	passwordFile := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(passwordFile, []byte("s3cret-pass\n"), 0o600))
	const mail = `from: "callbackd <alerts@callbackd.example.com>", to: [oncall@example.com]`
	cfg, err := rules.Parse(fmt.Appendf(nil, `
channels:
  - {name: starttls, email: {host: 127.0.0.1, port: %[1]d, tls: starttls, ca_file: %[3]q, auth: plain, username: alerts, password_file: %[4]q, %[5]s}}
  - {name: implicit, email: {host: 127.0.0.1, port: %[2]d, tls: tls, ca_file: %[3]q, auth: login, username: alerts, password: s3cret-pass, %[5]s}}
  - {name: wrong-password, email: {host: 127.0.0.1, port: %[1]d, tls: starttls, ca_file: %[3]q, username: alerts, password: not-it, %[5]s}}
  - {name: untrusted, email: {host: 127.0.0.1, port: %[1]d, tls: starttls, username: alerts, password: s3cret-pass, %[5]s}}
  - {name: no-starttls, email: {host: 127.0.0.1, port: %[6]d, tls: starttls, ca_file: %[3]q, %[5]s}}
rules:
  - {name: failed, match: {event: workflow.failed}, group_window: 0s, channels: [starttls, implicit, wrong-password, untrusted, no-starttls]}
`, starttls.port, implicit.port, caFile, passwordFile, mail, plain.port))
	require.NoError(t, err)

	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	_, err = queue.Migrate(ctx, st.DB(), st.Dialect(), false)
	require.NoError(t, err)
	senders := map[string]queue.Sender{}
	for _, ch := range cfg.Channels {
		s, err := channel.New(ch, channel.Options{})
		require.NoError(t, err)
		senders[ch.Name] = s
	}
	q, err := queue.New(st.DB(), st.Dialect(), rules.NewEvaluator(cfg, "https://cb.example"), st, senders,
		queue.Config{PollInterval: 50 * time.Millisecond, MaxAttempts: 1, SendTimeout: 20 * time.Second, Reads: st.ReadDB()}, nil)
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- q.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.Eventually(t, func() bool {
		var set bool
		require.NoError(t, st.DB().QueryRow("SELECT seq IS NOT NULL FROM alert_cursor WHERE id = 1").Scan(&set))
		return set
	}, 10*time.Second, 20*time.Millisecond)
	_, err = st.Save(ctx, []callback.Delivery{storetest.Parsed(t, callback.EventWorkflowFailed, "job-tls", "", time.Now())})
	require.NoError(t, err)

	byChannel := map[string]rules.Delivery{}
	require.Eventually(t, func() bool {
		ds, _, err := q.Deliveries(ctx, 10, "")
		require.NoError(t, err)
		clear(byChannel)
		for _, d := range ds {
			if d.Status != rules.DeliverySent && d.Status != rules.DeliveryFailed {
				return false
			}
			byChannel[d.Channel] = d
		}
		return len(byChannel) == 5
	}, 60*time.Second, 100*time.Millisecond)

	for _, name := range []string{"starttls", "implicit"} {
		d := byChannel[name]
		require.Equal(t, rules.DeliverySent, d.Status, "%s: %+v", name, d.Errors)
	}
	require.Equal(t, []string{"[callbackd] 1 failure of summarise-document, latest: workflow.failed of job job-tls"}, prefixes(starttls.subjects(t)), "STARTTLS with AUTH PLAIN, one message: the wrong password and the untrusted certificate sent none")
	require.Equal(t, []string{"[callbackd] 1 failure of summarise-document, latest: workflow.failed of job job-tls"}, prefixes(implicit.subjects(t)), "implicit TLS with AUTH LOGIN")
	require.Empty(t, plain.subjects(t), "required STARTTLS: nothing is sent in clear")

	failed := func(name string, port int, want string) {
		t.Helper()
		d := byChannel[name]
		require.Equal(t, rules.DeliveryFailed, d.Status, name)
		require.Len(t, d.Errors, 1, name)
		t.Logf("%s: %s", name, d.Errors[0].Error)
		require.Contains(t, d.Errors[0].Error, fmt.Sprintf("smtp 127.0.0.1:%d", port), name)
		require.Contains(t, d.Errors[0].Error, want, name)
		require.NotContains(t, d.Errors[0].Error, "s3cret-pass", name)
	}
	failed("wrong-password", starttls.port, `SMTP AUTH failed: 535 "5.7.8 Authentication credentials invalid"`)
	failed("untrusted", starttls.port, "certificate signed by unknown authority")
	failed("no-starttls", plain.port, "STARTTLS")
}

// prefixes cuts each subject before its timestamp.
func prefixes(subjects []string) []string {
	var out []string
	for _, s := range subjects {
		before, _, _ := strings.Cut(s, " at ")
		out = append(out, before)
	}
	return out
}
