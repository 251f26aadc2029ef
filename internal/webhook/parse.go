package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The parsers take a signature header apart without any secret: the Verifier
// uses them, and so do tools that explain why a signature fails (callbackctl
// verify), so that both read a header the same way.

// Signature is a signature header taken apart: the MACs it claims for a
// delivery and, for the timestamped schemes, what they sign before the body
// and when the sender says it signed.
type Signature struct {
	// MACs are the claimed HMAC-SHA256 values, any of which may match.
	MACs [][]byte
	// Prefix is what the scheme signs before the body: "t." for Stripe,
	// "id.timestamp." for Standard Webhooks; nil for the untimestamped
	// schemes (LLM, GitHub).
	Prefix []byte
	// Unix is the signing time in unix seconds when Prefix is not nil.
	Unix int64
}

// Matches reports whether one of the claimed MACs is HMAC-SHA256 under key
// of Prefix and body, compared in constant time.
func (s Signature) Matches(key, body []byte) bool {
	want := mac(key, s.Prefix, body)
	for _, got := range s.MACs {
		if hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// ParseSHA256Hex reads the "sha256=<hex>" value of the LLM service's
// X-Webhook-Signature and GitHub's X-Hub-Signature-256. Hex digits of either
// case are accepted: the signature is decoded and compared as bytes, so case
// carries no information. Errors wrap ErrSignatureMalformed.
func ParseSHA256Hex(value string) (Signature, error) {
	digits, ok := strings.CutPrefix(value, "sha256=")
	sig, err := hex.DecodeString(digits)
	if !ok || err != nil || len(sig) != sha256.Size {
		return Signature{}, fmt.Errorf("%w: want sha256= and 64 hex digits", ErrSignatureMalformed)
	}
	return Signature{MACs: [][]byte{sig}}, nil
}

// ParseStandard reads a Standard Webhooks signature: the webhook-id and
// webhook-timestamp headers and the webhook-signature value, "v1,<base64>"
// entries separated by spaces, signed over "id.timestamp.body". Entries of
// other versions (such as the asymmetric v1a) are ignored. Errors wrap
// ErrSignatureMalformed or ErrTimestampMalformed.
func ParseStandard(id, timestamp, value string) (Signature, error) {
	if id == "" {
		return Signature{}, fmt.Errorf("%w: %s (or %s) header missing", ErrSignatureMalformed, HeaderStandardID, HeaderSvixID)
	}
	unix, err := parseUnix(timestamp)
	if err != nil {
		return Signature{}, err
	}
	sig := Signature{Prefix: []byte(id + "." + timestamp + "."), Unix: unix}
	for _, entry := range strings.Fields(value) {
		version, encoded, ok := strings.Cut(entry, ",")
		if !ok {
			return Signature{}, fmt.Errorf("%w: want space-separated v1,<base64>", ErrSignatureMalformed)
		}
		if version != "v1" {
			continue
		}
		m, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return Signature{}, fmt.Errorf("%w: bad base64 in v1 signature", ErrSignatureMalformed)
		}
		sig.MACs = append(sig.MACs, m)
	}
	if len(sig.MACs) == 0 {
		return Signature{}, fmt.Errorf("%w: no v1 signature", ErrSignatureMalformed)
	}
	return sig, nil
}

// ParseStripe reads a Stripe-Signature value, "t=<unix>,v1=<hex>[,v1=<hex>…]",
// signed over "t.body". Other keys (such as Stripe's test-mode v0) are
// ignored. Errors wrap ErrSignatureMalformed or ErrTimestampMalformed.
func ParseStripe(value string) (Signature, error) {
	var ts string
	var macs [][]byte
	for _, item := range strings.Split(value, ",") {
		k, val, ok := strings.Cut(item, "=")
		if !ok {
			return Signature{}, fmt.Errorf("%w: want t=<unix>,v1=<hex>", ErrSignatureMalformed)
		}
		switch k {
		case "t":
			if ts != "" {
				return Signature{}, fmt.Errorf("%w: t= given twice", ErrTimestampMalformed)
			}
			ts = val
		case "v1":
			m, err := hex.DecodeString(val)
			if err != nil {
				return Signature{}, fmt.Errorf("%w: bad hex in v1 signature", ErrSignatureMalformed)
			}
			macs = append(macs, m)
		}
	}
	unix, err := parseUnix(ts)
	if err != nil {
		return Signature{}, err
	}
	if len(macs) == 0 {
		return Signature{}, fmt.Errorf("%w: no v1 signature", ErrSignatureMalformed)
	}
	return Signature{MACs: macs, Prefix: []byte(ts + "."), Unix: unix}, nil
}

// parseUnix reads a timestamp in unix seconds: decimal digits only.
func parseUnix(s string) (int64, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%w: want unix seconds", ErrTimestampMalformed)
	}
	unix, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: want unix seconds", ErrTimestampMalformed)
	}
	return unix, nil
}

// StandardKey returns the HMAC key of a Standard Webhooks secret,
// "whsec_<base64>": the decoded bytes.
func StandardKey(secret string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errors.New(`want "whsec_" followed by base64`)
	}
	k, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(k) == 0 {
		return nil, errors.New(`want "whsec_" followed by non-empty base64`)
	}
	return k, nil
}
