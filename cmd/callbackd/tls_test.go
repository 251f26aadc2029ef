package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	"github.com/callbackd/callbackd/internal/buildinfo"
	"github.com/callbackd/callbackd/internal/webhook"
)

// selfSigned writes a test certificate and key for 127.0.0.1.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	certFile, keyFile, roots, err := callbackdtest.SelfSignedCert(t.TempDir())
	require.NoError(t, err)
	return certFile, keyFile, roots
}

// TestTLS serves gRPC over HTTP/2 and REST over HTTPS on the one port.
func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	srv := startServer(t, "", "--tls-cert", certFile, "--tls-key", keyFile)

	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	require.NoError(t, err)
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, res.GetStatus())

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	body := payload(t, "workflow.completed", uuid.NewString(), nil)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+srv.addr+"/api/webhooks/llm-callback", strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", webhook.SignLLM(testSecret, body))
	hres, err := client.Do(req)
	require.NoError(t, err)
	hres.Body.Close()
	require.Equal(t, http.StatusOK, hres.StatusCode)
	require.Equal(t, "HTTP/2.0", hres.Proto)

	// Plain HTTP on the TLS port gets no service.
	plainRes, err := http.Get("http://" + srv.addr + "/healthz")
	if err == nil {
		plainRes.Body.Close()
		require.Equal(t, http.StatusBadRequest, plainRes.StatusCode)
	}
}

// TestOptInSchemes accepts Standard Webhooks, GitHub and Stripe signatures
// only when configured, and rejects stale timestamps.
func TestOptInSchemes(t *testing.T) {
	t.Parallel()
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	srv := startServer(t, "", "--standard-webhooks-secret", "svix="+whsec, "--github-secret", "gh=github-secret", "--stripe-secret", "st=stripe-secret")
	plain := startServer(t, "")
	now := time.Now()
	sign := map[string]func(body []byte, at time.Time) map[string]string{
		"standard-webhooks": func(body []byte, at time.Time) map[string]string {
			sig, err := webhook.SignStandard(whsec, "msg_1", at, body)
			require.NoError(t, err)
			return map[string]string{"webhook-id": "msg_1", "webhook-timestamp": itoa(at.Unix()), "webhook-signature": sig}
		},
		// Svix's default header names for the same scheme.
		"standard-webhooks-svix": func(body []byte, at time.Time) map[string]string {
			sig, err := webhook.SignStandard(whsec, "msg_1", at, body)
			require.NoError(t, err)
			return map[string]string{"svix-id": "msg_1", "svix-timestamp": itoa(at.Unix()), "svix-signature": sig}
		},
		"github": func(body []byte, _ time.Time) map[string]string {
			return map[string]string{"X-Hub-Signature-256": webhook.SignGitHub("github-secret", body)}
		},
		"stripe": func(body []byte, at time.Time) map[string]string {
			return map[string]string{"Stripe-Signature": webhook.SignStripe("stripe-secret", at, body)}
		},
	}
	for scheme, headers := range sign {
		t.Run(scheme, func(t *testing.T) {
			body := payload(t, "workflow.completed", uuid.NewString(), nil)
			res := delivery{body: body, headers: headers(body, now)}.send(t, srv.base)
			require.Equal(t, http.StatusOK, res.status, res.body)

			res = delivery{body: body, headers: headers(body, now)}.send(t, plain.base)
			require.Equal(t, http.StatusUnauthorized, res.status, "not enabled there: %s", res.body)

			if scheme != "github" {
				stale := payload(t, "workflow.completed", uuid.NewString(), nil)
				res = delivery{body: stale, headers: headers(stale, now.Add(-10*time.Minute))}.send(t, srv.base)
				require.Equal(t, http.StatusUnauthorized, res.status)
				require.Contains(t, res.body, "timestamp_out_of_tolerance")
			}
		})
	}

	// Both families on one delivery: either one verifying is enough, and
	// the rejected-deliveries list names both signature headers of a
	// delivery that neither verifies.
	t.Run("both families", func(t *testing.T) {
		body := payload(t, "workflow.completed", uuid.NewString(), nil)
		h := sign["standard-webhooks-svix"](body, now)
		h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"] = "msg_1", itoa(now.Unix()), "v1,AAAA"
		res := delivery{body: body, headers: h}.send(t, srv.base)
		require.Equal(t, http.StatusOK, res.status, res.body)

		h["svix-signature"] = "v1,AAAA"
		res = delivery{body: body, headers: h}.send(t, srv.base)
		require.Equal(t, http.StatusUnauthorized, res.status, res.body)
		require.Contains(t, res.body, "signature_mismatch")
		found := false
		for _, r := range rejections(t, srv) {
			if r.GetReason() == "signature_mismatch" {
				found = true
				require.Equal(t, []string{"Webhook-Signature", "Svix-Signature"}, r.GetSignatureHeaders())
			}
		}
		require.True(t, found, "the rejection is listed")
	})
}

func itoa(n int64) string { return big.NewInt(n).String() }

// TestMetrics counts deliveries by outcome and exposes the ingest histograms.
func TestMetrics(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	ingestN(t, srv, 2)
	bad := payload(t, "workflow.completed", uuid.NewString(), nil)
	delivery{body: bad, headers: map[string]string{"X-Webhook-Signature": webhook.SignLLM("wrong", bad)}}.send(t, srv.base)
	families := metricFamilies(t, srv)
	outcomes := map[string]float64{}
	for _, m := range families["callbackd_deliveries_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			outcomes[l.GetValue()] = m.GetCounter().GetValue()
		}
	}
	require.Equal(t, map[string]float64{"stored": 2, "signature_mismatch": 1}, outcomes)
	require.Equal(t, uint64(3), families["callbackd_ingest_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleCount())
	require.Equal(t, uint64(3), families["callbackd_delivery_body_bytes"].GetMetric()[0].GetHistogram().GetSampleCount())
	require.Contains(t, families, "callbackd_watchers")

	build := families["callbackd_build_info"].GetMetric()
	require.Len(t, build, 1)
	labels := map[string]string{}
	for _, l := range build[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	info := buildinfo.Read()
	require.Equal(t, map[string]string{"version": info.Version, "revision": info.Commit, "goversion": info.GoVersion}, labels)
	require.Equal(t, 1.0, build[0].GetGauge().GetValue())
}

// TestVersion: --version prints the build and exits without starting
// anything.
func TestVersion(t *testing.T) {
	t.Parallel()
	var stdout, stderr strings.Builder
	require.NoError(t, run(t.Context(), []string{"--version"}, &stdout, &stderr))
	require.Equal(t, "callbackd "+buildinfo.Read().String()+"\n", stdout.String())
	require.Empty(t, stderr.String())
}

// TestHealthcheck: the container HEALTHCHECK command succeeds against a
// ready server, derived from the same --addr (and --tls-cert), and fails
// where nothing answers.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	var out strings.Builder
	require.NoError(t, run(t.Context(), []string{"healthcheck", "--addr", srv.addr}, &out, io.Discard))
	require.Contains(t, out.String(), "http://"+srv.addr+"/readyz: 200 OK")

	certFile, keyFile, _ := selfSigned(t)
	tlsSrv := startServer(t, "", "--tls-cert", certFile, "--tls-key", keyFile)
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"healthcheck", "--addr", tlsSrv.addr, "--tls-cert", certFile, "--tls-key", keyFile}, &out, io.Discard))
	require.Contains(t, out.String(), "https://"+tlsSrv.addr+"/readyz: 200 OK")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	require.Error(t, run(t.Context(), []string{"healthcheck", "--addr", closed}, io.Discard, io.Discard))
	require.Error(t, run(t.Context(), []string{"healthcheck", "--url", srv.base + "/no-such-route"}, io.Discard, io.Discard))
}
