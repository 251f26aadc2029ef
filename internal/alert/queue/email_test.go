package queue_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/alert/channel"
	"github.com/callbackd/callbackd/internal/alert/queue"
	"github.com/callbackd/callbackd/internal/alert/rules"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/mailpittest"
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

// TestEmailTLSAndAuth sends one alert to five e-mail channels against real
// Mailpit servers that require TLS and SMTP AUTH, with a certificate of a
// private CA: it arrives over STARTTLS with AUTH PLAIN and over implicit
// TLS with AUTH LOGIN, both trusting the CA through ca_file; a wrong
// password, a certificate no ca_file vouches for, and a server that offers
// no STARTTLS each give a failed delivery whose error says why. The
// channel does not depend on the database, so SQLite alone runs it.
func TestEmailTLSAndAuth(t *testing.T) {
	t.Parallel()
	bin := mailpittest.Build(t)
	dir := t.TempDir()
	caFile, certFile, keyFile := testPKI(t, dir)
	authFile := filepath.Join(dir, "smtp-auth")
	require.NoError(t, os.WriteFile(authFile, []byte("alerts:s3cret-pass\n"), 0o600))
	tlsFlags := []string{"--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-auth-file", authFile}
	starttls := mailpittest.Start(t, bin, append(tlsFlags, "--smtp-require-starttls")...)
	implicit := mailpittest.Start(t, bin, append(tlsFlags, "--smtp-require-tls")...)
	plain := mailpittest.Start(t, bin) // offers no STARTTLS

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
`, starttls.Port, implicit.Port, caFile, passwordFile, mail, plain.Port))
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
	require.Equal(t, []string{"[callbackd] 1 failure of summarise-document, latest: workflow.failed of job job-tls"}, prefixes(starttls.Subjects(t)), "STARTTLS with AUTH PLAIN, one message: the wrong password and the untrusted certificate sent none")
	require.Equal(t, []string{"[callbackd] 1 failure of summarise-document, latest: workflow.failed of job job-tls"}, prefixes(implicit.Subjects(t)), "implicit TLS with AUTH LOGIN")
	require.Empty(t, plain.Subjects(t), "required STARTTLS: nothing is sent in clear")

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
	failed("wrong-password", starttls.Port, `SMTP AUTH failed: 535 "5.7.8 Authentication credentials invalid"`)
	failed("untrusted", starttls.Port, "certificate signed by unknown authority")
	failed("no-starttls", plain.Port, "STARTTLS")
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
