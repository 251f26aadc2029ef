// Package replay sends a stored callback's exact body to a URL of an admin's
// choice and reports what that URL answered.
//
// An admin is trusted with callbacks, not with the server's network: a
// stolen session must not turn callbackd into a probe of the network it runs
// in (server-side request forgery). So a Replayer refuses, by default, every
// address that is not public (loopback, private, link-local with the cloud
// metadata service, unspecified, multicast and the other special ranges), and
// it checks the address actually dialled, after name resolution, in the
// dialer's Control hook: a name that resolves to a public address once and a
// private one the next time (DNS rebinding) is refused all the same. It
// follows no redirect, uses no proxy from the environment, bounds the whole
// exchange in time and reads only the first bytes of the answer.
package replay

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/webhook"
)

// Defaults and bounds of a Replayer.
const (
	// DefaultTimeout bounds one replay, from dialling to the last byte of
	// the snippet read.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxResponseBytes is how much of an answer's body is read.
	DefaultMaxResponseBytes = 4096
	// MaxTargetBytes bounds a target URL.
	MaxTargetBytes = 2048
	// MaxSecretBytes bounds a signing secret.
	MaxSecretBytes = 1024
	// maxHeaderValueBytes bounds each reported header value.
	maxHeaderValueBytes = 256
	// maxResponseHeaderBytes bounds the answer's header block.
	maxResponseHeaderBytes = 64 << 10
)

// The signature schemes a replay can be signed with, named as callbackctl
// names them.
const (
	SchemeLLM      = "llm"
	SchemeStandard = "standard-webhooks"
	SchemeGitHub   = "github"
	SchemeStripe   = "stripe"
)

// The refusals and failures of a replay. Each is a row of docs/errors.md.
var (
	errDisabled = apierror.New(apierror.ReplayDisabled, "replay is turned off on this server (--no-replay)")
)

// reportedHeaders are the answer's headers worth showing, in this order.
var reportedHeaders = []string{"Content-Type", "Content-Length", "Location", "Retry-After", "Server", "Www-Authenticate"}

// Config is how a Replayer behaves.
type Config struct {
	// Disabled refuses every replay.
	Disabled bool
	// Allow opens these ranges, which the default policy refuses (a
	// receiver on loopback or in the private network).
	Allow []netip.Prefix
	// Timeout bounds one replay; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBytes is how much of an answer's body is read; zero means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int
	// Resolver looks target names up; nil means the system's. Whatever it
	// answers, the address dialled is checked.
	Resolver *net.Resolver
}

// Replayer POSTs bodies to admins' targets under the policy of its Config.
// It is safe for concurrent use.
type Replayer struct {
	cfg    Config
	client *http.Client
}

// New returns a Replayer for cfg.
func New(cfg Config) (*Replayer, error) {
	if cfg.Timeout < 0 || cfg.MaxResponseBytes < 0 {
		return nil, errors.New("replay: timeout and response limit must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	for i, p := range cfg.Allow {
		cfg.Allow[i] = p.Masked()
	}
	r := &Replayer{cfg: cfg}
	// The replay's context bounds dialling, TLS and the answer as one
	// total: no separate timeout of the dialer or transport fires first.
	dialer := &net.Dialer{
		Resolver: cfg.Resolver,
		// Control runs for every address the dialer tries, after
		// resolution and before the connection is opened: the one place
		// where the address checked is the address used.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &refusedError{address: address, class: "not an IP address"}
			}
			if class := r.refusal(ap.Addr()); class != "" {
				return &refusedError{address: ap.Addr().String(), class: class}
			}
			return nil
		},
	}
	r.client = &http.Client{
		Transport: &http.Transport{
			// No proxy: a proxy would be the address dialled, and the
			// target's would go unchecked.
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
			MaxResponseHeaderBytes: maxResponseHeaderBytes,
			// Every replay dials afresh, so every one is checked.
			DisableKeepAlives: true,
			ForceAttemptHTTP2: true,
		},
		// A redirect is the answer: following it would dial an address the
		// admin did not choose.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return r, nil
}

// Enabled reports whether replays are allowed at all.
func (r *Replayer) Enabled() bool { return !r.cfg.Disabled }

// Request is one replay.
type Request struct {
	// Target is the URL to POST to, as the admin gave it.
	Target string
	// Body is the callback's exact stored body.
	Body []byte
	// EventType is sent as X-Webhook-Event, as the sender does.
	EventType string
	// UserAgent is sent as User-Agent; empty means "callbackd replay".
	UserAgent string
	// Secret re-signs the delivery in Scheme; empty sends it unsigned.
	Secret string
	// Scheme is the signature scheme of Secret; empty means SchemeLLM.
	Scheme string
	// MessageID is the Standard Webhooks webhook-id: one per logical
	// callback, as a sender keeps it across redeliveries.
	MessageID string
}

// Header is one reported header of an answer.
type Header struct {
	Name, Value string
}

// Outcome is what the target answered.
type Outcome struct {
	// Status is the HTTP status; a redirect is not followed.
	Status int
	// Latency is the time from the start of the request to the answer's
	// headers.
	Latency time.Duration
	// Headers are the reportedHeaders present, values truncated.
	Headers []Header
	// Snippet is the start of the body, valid UTF-8.
	Snippet string
	// Truncated is true when the body went on past the snippet (or broke
	// off while it was read).
	Truncated bool
	// RemoteAddr is the address dialled.
	RemoteAddr string
	// Scheme names the signature scheme used, "" when unsigned.
	Scheme string
	// BodyBytes is the size of the body sent.
	BodyBytes int
}

// Target checks a target URL without dialling: http or https, a host, no
// credentials, bounded. The error names apierror.InvalidReplayTarget.
func Target(raw string) (*url.URL, error) {
	if len(raw) > MaxTargetBytes {
		return nil, apierror.New(apierror.InvalidReplayTarget, fmt.Sprintf("target_url: longer than %d bytes", MaxTargetBytes))
	}
	if raw == "" {
		return nil, apierror.New(apierror.InvalidReplayTarget, "target_url: missing")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, apierror.New(apierror.InvalidReplayTarget, "target_url: not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, apierror.New(apierror.InvalidReplayTarget, fmt.Sprintf("target_url: scheme %q: want http or https", truncate(u.Scheme, 16)))
	case u.Hostname() == "":
		return nil, apierror.New(apierror.InvalidReplayTarget, "target_url: no host")
	case u.User != nil:
		return nil, apierror.New(apierror.InvalidReplayTarget, "target_url: credentials in the URL are refused (they would be kept in logs and browsers); sign the delivery with a secret instead")
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// signer checks a secret and its scheme. The error names
// apierror.InvalidReplaySignature.
func signer(secret, scheme string) (string, error) {
	if secret == "" {
		if scheme != "" {
			return "", apierror.New(apierror.InvalidReplaySignature, fmt.Sprintf("signature_scheme %q needs a secret", truncate(scheme, 32)))
		}
		return "", nil
	}
	if len(secret) > MaxSecretBytes {
		return "", apierror.New(apierror.InvalidReplaySignature, fmt.Sprintf("secret: longer than %d bytes", MaxSecretBytes))
	}
	if scheme == "" {
		scheme = SchemeLLM
	}
	switch scheme {
	case SchemeLLM, SchemeGitHub, SchemeStripe:
	case SchemeStandard:
		if _, err := webhook.StandardKey(strings.TrimSpace(secret)); err != nil {
			return "", apierror.New(apierror.InvalidReplaySignature, "secret: "+err.Error())
		}
	default:
		return "", apierror.New(apierror.InvalidReplaySignature, fmt.Sprintf("signature_scheme %q: want llm, standard-webhooks, github or stripe", truncate(scheme, 32)))
	}
	return scheme, nil
}

// Check validates a request without sending it: what Replay refuses before
// it dials (replay turned off, a bad target, a bad secret).
func (r *Replayer) Check(req Request) error {
	if r.cfg.Disabled {
		return errDisabled
	}
	if _, err := Target(req.Target); err != nil {
		return err
	}
	_, err := signer(req.Secret, req.Scheme)
	return err
}

// Replay POSTs req.Body to req.Target, signed when req has a secret, and
// returns the answer. Any status is an answer; the errors name the reasons
// of docs/errors.md (a refused address, an unreachable or silent target).
func (r *Replayer) Replay(ctx context.Context, req Request) (Outcome, error) {
	if err := r.Check(req); err != nil {
		return Outcome{}, err
	}
	target, _ := Target(req.Target)
	scheme, _ := signer(req.Secret, req.Scheme)
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var out Outcome
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { out.RemoteAddr = info.Conn.RemoteAddr().String() },
	})
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(req.Body))
	if err != nil {
		return Outcome{}, apierror.New(apierror.InvalidReplayTarget, "target_url: "+err.Error())
	}
	now := time.Now()
	hr.Header = signatureHeaders(scheme, req.Secret, req.MessageID, now, req.Body)
	hr.Header.Set("Content-Type", "application/json")
	if req.EventType != "" {
		hr.Header.Set("X-Webhook-Event", req.EventType)
	}
	hr.Header.Set("User-Agent", cmp.Or(req.UserAgent, "callbackd replay"))
	res, err := r.client.Do(hr)
	if err != nil {
		return Outcome{}, r.failure(ctx, target, err)
	}
	defer res.Body.Close()
	out.Latency = time.Since(now)
	out.Status = res.StatusCode
	out.Scheme, out.BodyBytes = scheme, len(req.Body)
	for _, name := range reportedHeaders {
		if v := res.Header.Get(name); v != "" {
			out.Headers = append(out.Headers, Header{Name: name, Value: truncate(strings.ToValidUTF8(v, "\uFFFD"), maxHeaderValueBytes)})
		}
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, int64(r.cfg.MaxResponseBytes)+1))
	if len(body) > r.cfg.MaxResponseBytes {
		body, out.Truncated = body[:r.cfg.MaxResponseBytes], true
	}
	if err != nil {
		out.Truncated = true // what was read is reported: the status is known
	}
	out.Snippet = strings.ToValidUTF8(string(body), "\uFFFD")
	return out, nil
}

// failure names the reason of a request that got no answer. The messages
// say what failed without echoing the caller's URL.
func (r *Replayer) failure(ctx context.Context, target *url.URL, err error) error {
	var refused *refusedError
	if errors.As(err, &refused) {
		return apierror.New(apierror.ReplayTargetForbidden, fmt.Sprintf("%s resolves to %s, a %s address: refused by the replay policy (the server's --replay-allow opens a range)", truncate(target.Hostname(), 64), refused.address, refused.class))
	}
	if ctx.Err() != nil {
		if parent := context.Cause(ctx); errors.Is(parent, context.Canceled) {
			return parent // the caller left
		}
		return apierror.New(apierror.ReplayTargetTimeout, fmt.Sprintf("%s did not answer within %s", truncate(target.Host, 64), r.cfg.Timeout))
	}
	var dns *net.DNSError
	var op *net.OpError
	var certErr *tls.CertificateVerificationError
	why := "the exchange failed"
	switch {
	case errors.As(err, &dns):
		why = "its name does not resolve"
		if dns.IsTimeout {
			why = "resolving its name timed out"
		}
	case errors.As(err, &certErr):
		why = "its TLS certificate does not verify: " + certErr.Err.Error()
	case errors.As(err, &op) && op.Op == "dial":
		why = "connecting failed: " + op.Err.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		why = "it closed the connection without an answer"
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			why = ue.Err.Error()
		}
	}
	return apierror.New(apierror.ReplayTargetUnreachable, fmt.Sprintf("%s: %s", truncate(target.Host, 64), truncate(strings.ToValidUTF8(why, "?"), 256)))
}

// signatureHeaders are the headers of a delivery signed in scheme ("" for
// none), as a sender of that scheme writes them.
func signatureHeaders(scheme, secret, msgID string, now time.Time, body []byte) http.Header {
	h := http.Header{}
	switch scheme {
	case SchemeLLM:
		h.Set(webhook.HeaderLLMSignature, webhook.SignLLM(secret, body))
	case SchemeGitHub:
		h.Set(webhook.HeaderGitHubSignature, webhook.SignGitHub(secret, body))
	case SchemeStripe:
		h.Set(webhook.HeaderStripeSignature, webhook.SignStripe(secret, now, body))
	case SchemeStandard:
		sig, _ := webhook.SignStandard(secret, msgID, now, body) // the key was checked by signer
		h.Set(webhook.HeaderStandardID, msgID)
		h.Set(webhook.HeaderStandardTimestamp, fmt.Sprint(now.Unix()))
		h.Set(webhook.HeaderStandardSignature, sig)
	}
	return h
}

// refusedError is the dialer's refusal of an address.
type refusedError struct {
	address, class string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("address %s is %s: refused by the replay policy", e.address, e.class)
}

// specialRanges are refused besides what netip classifies (loopback,
// private, link-local, multicast, unspecified): addresses that are not
// public Internet hosts either.
var specialRanges = []struct {
	prefix netip.Prefix
	class  string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" (0.0.0.0/8)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT, 100.64.0.0/10)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment (192.0.0.0/24)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast (240.0.0.0/4)"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (fec0::/10)"},
}

// nat64 is the well-known NAT64 prefix, whose addresses reach the IPv4
// address in their last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// refusal returns why addr is refused ("" when it is allowed): the class of
// address it is.
func (r *Replayer) refusal(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	for _, p := range r.cfg.Allow {
		if p.Contains(addr) {
			return ""
		}
	}
	return Class(addr)
}

// Class returns the kind of non-public address addr is ("loopback",
// "private (RFC 1918)" ...), or "" for a public address.
func Class(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if nat64.Contains(addr) {
		b := addr.As16()
		if c := Class(netip.AddrFrom4([4]byte(b[12:]))); c != "" {
			return c + " behind NAT64"
		}
		return ""
	}
	switch {
	case !addr.IsValid():
		return "invalid"
	case addr.IsUnspecified():
		return "unspecified"
	case addr.IsLoopback():
		return "loopback"
	case addr.IsPrivate() && addr.Is4():
		return "private (RFC 1918)"
	case addr.IsPrivate():
		return "private (unique local, fc00::/7)"
	case addr.IsLinkLocalUnicast():
		return "link-local (where cloud metadata services such as 169.254.169.254 live)"
	case addr.IsMulticast(), addr.IsLinkLocalMulticast(), addr.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, s := range specialRanges {
		if s.prefix.Contains(addr) {
			return s.class
		}
	}
	return ""
}

// truncate bounds s to n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
