package replay_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/replay"
	"github.com/callbackd/callbackd/internal/webhook"
)

// loopback opens the loopback ranges, as the tests' receivers listen there.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver starts a real HTTP server on loopback that records every request
// and answers with answer.
func receiver(t *testing.T, answer http.HandlerFunc) (*httptest.Server, chan received) {
	t.Helper()
	got := make(chan received, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{header: r.Header.Clone(), body: b}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func newReplayer(t *testing.T, cfg replay.Config) *replay.Replayer {
	t.Helper()
	r, err := replay.New(cfg)
	require.NoError(t, err)
	return r
}

// body is a payload with bytes a re-serialisation would change: the exact
// bytes must arrive.
var body = []byte(`{"event":"workflow.completed", "job_id":"j-1","note":"caf\u00e9 \u2028","n":1.0}`)

func TestReplayDeliversTheExactBody(t *testing.T) {
	t.Parallel()
	srv, got := receiver(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Other", "not reported")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "thanks \xff")
	})
	r := newReplayer(t, replay.Config{Allow: loopback})
	for _, c := range []struct {
		scheme, secret string
		verify         func(t *testing.T, h http.Header, b []byte)
	}{
		{"", "", func(t *testing.T, h http.Header, _ []byte) {
			for _, name := range []string{webhook.HeaderLLMSignature, webhook.HeaderGitHubSignature, webhook.HeaderStripeSignature, webhook.HeaderStandardSignature} {
				require.Empty(t, h.Get(name), "an unsigned replay carries no %s", name)
			}
		}},
		{"", "s3cret", func(t *testing.T, h http.Header, b []byte) {
			require.Equal(t, webhook.SignLLM("s3cret", b), h.Get(webhook.HeaderLLMSignature))
		}},
		{replay.SchemeGitHub, "s3cret", func(t *testing.T, h http.Header, b []byte) {
			require.Equal(t, webhook.SignGitHub("s3cret", b), h.Get(webhook.HeaderGitHubSignature))
		}},
		{replay.SchemeStandard, "whsec_c2VjcmV0LWtleS1ieXRlcw==", func(t *testing.T, h http.Header, b []byte) {
			ts, err := strconv.ParseInt(h.Get(webhook.HeaderStandardTimestamp), 10, 64)
			require.NoError(t, err)
			require.Equal(t, "msg_1", h.Get(webhook.HeaderStandardID))
			want, err := webhook.SignStandard("whsec_c2VjcmV0LWtleS1ieXRlcw==", "msg_1", time.Unix(ts, 0), b)
			require.NoError(t, err)
			require.Equal(t, want, h.Get(webhook.HeaderStandardSignature))
		}},
	} {
		out, err := r.Replay(t.Context(), replay.Request{Target: srv.URL + "/hook?x=1", Body: body, EventType: "workflow.completed", Secret: c.secret, Scheme: c.scheme, MessageID: "msg_1"})
		require.NoError(t, err)
		req := <-got
		require.Equal(t, body, req.body, "byte for byte")
		require.Equal(t, "application/json", req.header.Get("Content-Type"))
		require.Equal(t, "workflow.completed", req.header.Get("X-Webhook-Event"))
		require.Equal(t, "callbackd replay", req.header.Get("User-Agent"))
		c.verify(t, req.header, req.body)
		require.Equal(t, http.StatusAccepted, out.Status)
		require.Equal(t, "thanks \uFFFD", out.Snippet)
		require.False(t, out.Truncated)
		require.Equal(t, []replay.Header{{Name: "Content-Type", Value: "text/plain"}, {Name: "Content-Length", Value: "8"}}, out.Headers)
		require.Equal(t, srv.Listener.Addr().String(), out.RemoteAddr)
		require.Positive(t, out.Latency)
		if c.secret != "" {
			require.Equal(t, map[string]string{"": "llm"}[c.scheme]+c.scheme, out.Scheme)
		} else {
			require.Empty(t, out.Scheme)
		}
	}
}

// TestReplayRefusesNonPublicAddresses: the default policy refuses the
// receiver on loopback, whether named by address or by a name that resolves
// to it (the check is on the address dialled, after resolution), and the
// receiver gets nothing; --replay-allow opens it.
func TestReplayRefusesNonPublicAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv, _ := receiver(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	strict := newReplayer(t, replay.Config{})
	for _, target := range []string{srv.URL, "http://localhost:" + port + "/", "http://[::1]:" + port, "http://[::ffff:127.0.0.1]:" + port, "http://0.0.0.0:" + port} {
		_, err := strict.Replay(t.Context(), replay.Request{Target: target, Body: body})
		require.Equal(t, apierror.ReplayTargetForbidden, apierror.Of(err), "%s: %v", target, err)
		require.NotContains(t, err.Error(), "/hook", "the message names the host, not the URL")
	}
	require.Zero(t, hits.Load())

	open := newReplayer(t, replay.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	_, err := open.Replay(t.Context(), replay.Request{Target: srv.URL, Body: body})
	require.NoError(t, err)
	require.EqualValues(t, 1, hits.Load())
}

func TestClass(t *testing.T) {
	t.Parallel()
	for addr, refused := range map[string]bool{
		"10.1.2.3": true, "172.16.0.1": true, "192.168.1.1": true, "127.0.0.1": true, "127.8.8.8": true,
		"169.254.169.254": true, "0.0.0.0": true, "0.1.2.3": true, "224.0.0.1": true, "255.255.255.255": true,
		"100.64.0.1": true, "198.18.0.1": true, "::1": true, "::": true, "fe80::1": true, "fd00:ec2::254": true,
		"ff02::1": true, "::ffff:10.0.0.1": true, "64:ff9b::a9fe:a9fe": true, "fec0::1": true,
		"8.8.8.8": false, "1.1.1.1": false, "93.184.216.34": false, "2001:4860:4860::8888": false, "64:ff9b::808:808": false,
	} {
		class := replay.Class(netip.MustParseAddr(addr))
		require.Equal(t, refused, class != "", "%s: %q", addr, class)
	}
	require.Contains(t, replay.Class(netip.MustParseAddr("169.254.169.254")), "metadata")
}

func TestTarget(t *testing.T) {
	t.Parallel()
	for raw, ok := range map[string]bool{
		"https://hooks.example.com/x?y=1": true,
		"http://example.com:8080":         true,
		"HTTP://example.com/":             true,
		"":                                false,
		"ftp://example.com/":              false,
		"file:///etc/passwd":              false,
		"gopher://example.com:70/":        false,
		"example.com/hook":                false,
		"http://":                         false,
		"http://user:pass@example.com/":   false,
		"http://exa mple.com/":            false,
		"https://example.com/" + strings.Repeat("a", replay.MaxTargetBytes): false,
	} {
		_, err := replay.Target(raw)
		if ok {
			require.NoError(t, err, raw)
		} else {
			require.Equal(t, apierror.InvalidReplayTarget, apierror.Of(err), "%q: %v", raw, err)
		}
	}
}

func TestReplayRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	srv, got := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	r := newReplayer(t, replay.Config{Allow: loopback})
	out, err := r.Replay(t.Context(), replay.Request{Target: srv.URL + "/moved", Body: body})
	require.NoError(t, err)
	require.Equal(t, http.StatusTemporaryRedirect, out.Status)
	require.Contains(t, out.Headers, replay.Header{Name: "Location", Value: "/elsewhere"})
	<-got
	select {
	case req := <-got:
		t.Fatalf("the redirect was followed: %v", req)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestReplayReadsOnlyTheStartOfTheAnswer(t *testing.T) {
	t.Parallel()
	srv, _ := receiver(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 1<<20))
	})
	r := newReplayer(t, replay.Config{Allow: loopback, MaxResponseBytes: 100})
	out, err := r.Replay(t.Context(), replay.Request{Target: srv.URL, Body: body})
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("x", 100), out.Snippet)
	require.True(t, out.Truncated)
}

func TestReplayFailures(t *testing.T) {
	t.Parallel()
	// A target that accepts and never answers.
	silent, _ := receiver(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	// A plain HTTP server asked for TLS.
	plain, _ := receiver(t, func(http.ResponseWriter, *http.Request) {})

	r := newReplayer(t, replay.Config{Allow: loopback, Timeout: 300 * time.Millisecond})
	for _, c := range []struct {
		req  replay.Request
		want apierror.Reason
		msg  string
	}{
		{replay.Request{Target: silent.URL}, apierror.ReplayTargetTimeout, "did not answer within 300ms"},
		{replay.Request{Target: closed}, apierror.ReplayTargetUnreachable, "connection refused"},
		{replay.Request{Target: strings.Replace(plain.URL, "http:", "https:", 1)}, apierror.ReplayTargetUnreachable, "HTTPS"},
		{replay.Request{Target: "http://no-such-host.invalid/"}, apierror.ReplayTargetUnreachable, "does not resolve"},
		{replay.Request{Target: "ftp://example.com/"}, apierror.InvalidReplayTarget, "want http or https"},
		{replay.Request{Target: silent.URL, Scheme: replay.SchemeGitHub}, apierror.InvalidReplaySignature, "needs a secret"},
		{replay.Request{Target: silent.URL, Secret: "x", Scheme: "md5"}, apierror.InvalidReplaySignature, "want llm"},
		{replay.Request{Target: silent.URL, Secret: "not-whsec", Scheme: replay.SchemeStandard}, apierror.InvalidReplaySignature, "whsec_"},
	} {
		_, err := r.Replay(t.Context(), c.req)
		require.Equal(t, c.want, apierror.Of(err), "%+v: %v", c.req, err)
		require.Contains(t, err.Error(), c.msg)
	}

	off := newReplayer(t, replay.Config{Disabled: true, Allow: loopback})
	_, err = off.Replay(t.Context(), replay.Request{Target: plain.URL})
	require.Equal(t, apierror.ReplayDisabled, apierror.Of(err))

	// The caller leaving is Canceled, not the target's fault.
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = r.Replay(ctx, replay.Request{Target: silent.URL})
	require.Equal(t, apierror.Canceled, apierror.Of(err), "%v", err)
}

// TestReplayRebinding: a name that resolved to an allowed address for one
// replay and to a refused one for the next (DNS rebinding) is refused the
// second time, and nothing reaches the address it now names. A DNS server
// started here answers 127.0.0.2 (opened, standing in for a public address)
// to the first query and 127.0.0.1 (refused) to every later one.
func TestReplayRebinding(t *testing.T) {
	t.Parallel()
	allowedLn, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this host: %v", err)
	}
	port := allowedLn.Addr().(*net.TCPAddr).Port
	refusedLn, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		_ = allowedLn.Close()
		t.Skipf("port %d is taken on 127.0.0.1: %v", port, err)
	}
	var allowedHits, refusedHits atomic.Int32
	for ln, hits := range map[net.Listener]*atomic.Int32{allowedLn: &allowedHits, refusedLn: &refusedHits} {
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) })}}
		srv.Start()
		t.Cleanup(srv.Close)
	}

	var queries atomic.Int32
	dns := dnsServer(t, func() netip.Addr {
		if queries.Add(1) == 1 {
			return netip.MustParseAddr("127.0.0.2")
		}
		return netip.MustParseAddr("127.0.0.1")
	})
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", dns)
	}}
	r := newReplayer(t, replay.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Resolver: resolver})
	target := "http://rebind.callbackd.test:" + strconv.Itoa(port) + "/hook"

	out, err := r.Replay(t.Context(), replay.Request{Target: target, Body: body})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.2:"+strconv.Itoa(port), out.RemoteAddr)
	_, err = r.Replay(t.Context(), replay.Request{Target: target, Body: body})
	require.Equal(t, apierror.ReplayTargetForbidden, apierror.Of(err), "%v", err)
	require.Contains(t, err.Error(), "resolves to 127.0.0.1, a loopback address")
	require.EqualValues(t, 1, allowedHits.Load())
	require.Zero(t, refusedHits.Load(), "nothing reaches the rebound address")
	require.GreaterOrEqual(t, queries.Load(), int32(2), "each replay resolved the name afresh")
}

// dnsServer answers A queries for any name with answer() on a UDP port of
// loopback, and AAAA queries with no address; it returns its address.
func dnsServer(t *testing.T, answer func() netip.Addr) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET}, dnsmessage.AResource{A: answer().As4()})
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}
