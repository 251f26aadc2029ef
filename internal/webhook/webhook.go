// Package webhook authenticates incoming webhooks. A Verifier checks a
// delivery's signature over the exact raw body bytes, before anything parses
// them, with constant-time comparison, for the LLM service's scheme and for
// the opt-in Standard Webhooks, GitHub and Stripe schemes.
//
// The package knows nothing of transports: headers come through the Header
// interface, which http.Header satisfies and gRPC metadata can adapt to.
//
// It also holds the parsers the Verifier reads signature headers with
// (ParseSHA256Hex, ParseStandard, ParseStripe), the list of the headers it
// reads (SignatureHeaders, Headers), the matching signing helpers (SignLLM,
// SignStandard, SignGitHub, SignStripe) and PythonJSON, which serialises a
// value exactly as the LLM service does, for tests, load generators and the
// CLI.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/callbackd/callbackd/internal/apierror"
)

// The names of the signature schemes, as used in Config.Secrets and Result.
const (
	SchemeLLM      = "llm-hmac-sha256"   // the LLM service; always on
	SchemeStandard = "standard-webhooks" // Standard Webhooks (OpenAI, Svix: webhook-* or svix-* headers); opt-in
	SchemeGitHub   = "github"            // opt-in
	SchemeStripe   = "stripe"            // opt-in
	SchemeUnsigned = "unsigned"          // no signature, accepted only with Config.AllowUnsigned
)

// The headers the schemes read.
const (
	HeaderLLMSignature      = "X-Webhook-Signature"
	HeaderStandardID        = "Webhook-Id"
	HeaderStandardTimestamp = "Webhook-Timestamp"
	HeaderStandardSignature = "Webhook-Signature"
	HeaderSvixID            = "Svix-Id"
	HeaderSvixTimestamp     = "Svix-Timestamp"
	HeaderSvixSignature     = "Svix-Signature"
	HeaderGitHubSignature   = "X-Hub-Signature-256"
	HeaderStripeSignature   = "Stripe-Signature"
)

// signatureHeaders lists, in the order Verify tries them, each scheme with the
// header whose presence says that a delivery claims to be signed with it, and
// for Standard Webhooks the id and timestamp headers of the same family.
// Standard Webhooks has two families: its own webhook-* names and the svix-*
// names that Svix sends by default (Svix's own libraries accept both). A
// family's signature is read only with that family's id and timestamp, never
// mixed, since the signature covers the id and timestamp its sender set.
var signatureHeaders = [...]struct{ scheme, header, id, timestamp string }{
	{scheme: SchemeLLM, header: HeaderLLMSignature},
	{scheme: SchemeStandard, header: HeaderStandardSignature, id: HeaderStandardID, timestamp: HeaderStandardTimestamp},
	{scheme: SchemeStandard, header: HeaderSvixSignature, id: HeaderSvixID, timestamp: HeaderSvixTimestamp},
	{scheme: SchemeGitHub, header: HeaderGitHubSignature},
	{scheme: SchemeStripe, header: HeaderStripeSignature},
}

// SignatureHeaders returns the headers that carry a signature, one per
// scheme and two for Standard Webhooks (webhook-signature, then
// svix-signature), in the order Verifier.Verify tries them. The slice is the
// caller's.
func SignatureHeaders() []string {
	names := make([]string, len(signatureHeaders))
	for i, s := range signatureHeaders {
		names[i] = s.header
	}
	return names
}

// Headers returns every header Verifier.Verify reads: the signature headers
// and the Standard Webhooks ids and timestamps (of both families) that their
// signatures cover. A transport that passes on only some headers must pass on
// these. The slice is the caller's.
func Headers() []string {
	names := SignatureHeaders()
	for _, s := range signatureHeaders {
		if s.id != "" {
			names = append(names, s.id, s.timestamp)
		}
	}
	return names
}

// Header gives the value of a request header, "" when absent. http.Header
// satisfies it; Get must match names case-insensitively.
type Header interface {
	Get(name string) string
}

// Result says how a delivery was authenticated. It never holds a signature
// or a secret, only the names of the scheme and of the configured secret.
type Result struct {
	Valid   bool   // false only for Scheme == SchemeUnsigned
	Scheme  string // one of the Scheme constants
	KeyName string // name of the secret that matched; empty when unsigned
}

// The reasons Verify rejects a delivery for. Verify wraps them with the
// scheme and the detail; test them with errors.Is, and read the reason with
// apierror.Of. Their messages hold no secret material or expected signature.
var (
	ErrSignatureMissing        = apierror.New(apierror.SignatureMissing, "no signature header of an enabled scheme")
	ErrSignatureMalformed      = apierror.New(apierror.SignatureMalformed, "malformed signature header")
	ErrSignatureMismatch       = apierror.New(apierror.SignatureMismatch, "signature does not match the body under any configured secret")
	ErrTimestampMalformed      = apierror.New(apierror.TimestampMalformed, "missing or malformed signature timestamp")
	ErrTimestampOutOfTolerance = apierror.New(apierror.TimestampOutOfTolerance, "signature timestamp outside the accepted window")
)

// Verifier checks webhook signatures. It is safe for concurrent use. Build it
// with NewVerifier.
type Verifier struct {
	keys          map[string][]key // by scheme name; only enabled schemes
	tolerance     int64            // seconds
	allowUnsigned bool
	now           func() time.Time
}

// key is one configured secret, ready for HMAC.
type key struct {
	name   string
	secret []byte
}

// Verify authenticates a delivery from its headers and its exact raw body.
//
// It tries, in the order LLM, Standard Webhooks (webhook-* headers, then
// svix-* headers), GitHub, Stripe, every enabled scheme whose signature
// header is present; the first that verifies wins. When none does, the error
// is the failure of the first scheme tried, so that a delivery carrying
// several signatures gets a stable reason. A Standard Webhooks delivery
// carrying both header families is thus accepted when either family verifies
// (each with its own id and timestamp), and rejected with the webhook-*
// family's reason when neither does.
// Headers of schemes that are not enabled are ignored, except that they still
// count as a claimed signature: a delivery is accepted as SchemeUnsigned only
// when Config.AllowUnsigned is set and no signature header of any scheme is
// present, so that a bad signature never degrades to "unsigned".
//
// For timestamped schemes the signature is checked first, then the
// timestamp: ErrTimestampOutOfTolerance means an authentic but stale (or
// replayed) delivery, or a skewed clock.
func (v *Verifier) Verify(h Header, body []byte) (Result, error) {
	claimed := false
	var firstErr error
	for _, s := range signatureHeaders {
		value := h.Get(s.header)
		if value == "" {
			continue
		}
		claimed = true
		keys, enabled := v.keys[s.scheme]
		if !enabled {
			continue
		}
		var id, timestamp string
		if s.id != "" {
			id, timestamp = h.Get(s.id), h.Get(s.timestamp)
		}
		name, err := v.check(s.scheme, value, id, timestamp, body, keys)
		if err == nil {
			return Result{Valid: true, Scheme: s.scheme, KeyName: name}, nil
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", s.scheme, err)
		}
	}
	switch {
	case firstErr != nil:
		return Result{}, firstErr
	case !claimed && v.allowUnsigned:
		return Result{Scheme: SchemeUnsigned}, nil
	default:
		return Result{}, ErrSignatureMissing
	}
}

// check verifies one scheme's signature header value (with, for Standard
// Webhooks, the id and timestamp of its header family) and returns the name
// of the key that matched.
func (v *Verifier) check(scheme, value, id, timestamp string, body []byte, keys []key) (string, error) {
	var sig Signature
	var err error
	switch scheme {
	case SchemeLLM, SchemeGitHub:
		sig, err = ParseSHA256Hex(value)
	case SchemeStandard:
		sig, err = ParseStandard(id, timestamp, value)
	default:
		sig, err = ParseStripe(value)
	}
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(keys, func(k key) bool { return sig.Matches(k.secret, body) })
	if i < 0 {
		return "", ErrSignatureMismatch
	}
	if sig.Prefix != nil { // a timestamped scheme
		return keys[i].name, v.checkTime(sig.Unix)
	}
	return keys[i].name, nil
}

// checkTime rejects a timestamp further than the tolerance from now, in
// either direction. It counts whole seconds, so that no arithmetic on
// attacker-chosen values can overflow.
func (v *Verifier) checkTime(unix int64) error {
	skew := v.now().Unix() - unix // both are non-negative: no overflow
	if skew > v.tolerance || skew < -v.tolerance {
		return fmt.Errorf("%w: %+d s from now, tolerance %d s", ErrTimestampOutOfTolerance, -skew, v.tolerance)
	}
	return nil
}

// mac returns HMAC-SHA256(secret, concatenation of parts).
func mac(secret []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, secret)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}
