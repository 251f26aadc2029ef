package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/callbackd/callbackd/internal/webhook"
)

// VerifyCmd checks a signature and diagnoses failures.
type VerifyCmd struct {
	Body      string        `arg:"" optional:"" default:"-" help:"File holding the exact body received; - (the default) reads stdin."`
	Signature string        `required:"" help:"The signature header's value: X-Webhook-Signature or X-Hub-Signature-256 (sha256=<hex>), webhook-signature (v1,<base64>) or Stripe-Signature (t=<unix>,v1=<hex>)."`
	Secret    []string      `required:"" help:"A secret to try; repeat the flag for several." env:"LLM_WEBHOOK_SECRET" sep:"none"`
	Scheme    string        `help:"Signature scheme: llm, standard-webhooks, github or stripe." enum:"llm,standard-webhooks,github,stripe" default:"llm"`
	ID        string        `name:"id" help:"The webhook-id header (standard-webhooks)."`
	Timestamp string        `help:"The webhook-timestamp header (standard-webhooks)."`
	Tolerance time.Duration `help:"Accepted distance between a signature's timestamp and now (standard-webhooks, stripe)." default:"5m"`
}

// Run prints OK and exits 0 when the signature verifies strictly, as the
// LLM service would have made it; otherwise it prints FAIL and one finding
// per line and exits 5.
func (c *VerifyCmd) Run(g *Globals) error {
	var body []byte
	var err error
	if c.Body == "-" {
		body, err = io.ReadAll(g.stdin)
	} else {
		body, err = os.ReadFile(c.Body)
	}
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	sig, findings, err := c.parse()
	if err != nil {
		return err
	}
	if sig.MACs == nil { // unreadable header: nothing more to learn
		return report(g.stdout, findings)
	}
	if i := c.firstMatch(sig, body, trimmed); i >= 0 {
		if len(findings) > 0 {
			return report(g.stdout, append(findings, fmt.Sprintf("once fixed, it verifies with secret #%d", i+1)))
		}
		if sig.Prefix != nil { // a timestamped scheme
			if skew := time.Since(time.Unix(sig.Unix, 0)); skew > c.Tolerance || skew < -c.Tolerance {
				return report(g.stdout, []string{fmt.Sprintf("timestamp outside tolerance: the signature verifies with secret #%d but was made %s (tolerance %s): a replay, a late retry or a skewed clock", i+1, ago(skew), c.Tolerance)})
			}
		}
		fmt.Fprintf(g.stdout, "OK: the signature verifies with secret #%d (%s)\n", i+1, c.Scheme)
		if s := c.Secret[i]; s != strings.TrimSpace(s) {
			fmt.Fprintf(g.stdout, "note: secret #%d has whitespace around it; it verifies once trimmed, as the LLM service trims its secret: make sure your receiver trims it too\n", i+1)
		}
		return nil
	}
	return report(g.stdout, append(findings, c.diagnose(sig, body)...))
}

// report prints a failed verification and its findings.
func report(w io.Writer, findings []string) error {
	fmt.Fprintln(w, "FAIL: the signature does not verify")
	for _, f := range findings {
		fmt.Fprintln(w, "- "+f)
	}
	return &codedError{exitVerifyFailed, errReported}
}

// parse takes the signature header apart with the parsers callbackd's
// verifier uses. Findings are departures from the sender's format that a
// lenient reading still gets past (the LLM scheme's prefix and case); a
// signature without MACs means the header is unreadable, and the findings say
// why.
func (c *VerifyCmd) parse() (webhook.Signature, []string, error) {
	var sig webhook.Signature
	var err error
	var wantTimestamp, wantSignature string // how the findings describe the format
	switch c.Scheme {
	case schemeStandard:
		if c.ID == "" || c.Timestamp == "" {
			return webhook.Signature{}, nil, usageErrorf("--scheme %s needs --id and --timestamp (the webhook-id and webhook-timestamp headers)", c.Scheme)
		}
		sig, err = webhook.ParseStandard(c.ID, c.Timestamp, c.Signature)
		wantTimestamp, wantSignature = "webhook-timestamp must be unix seconds", "want space-separated v1,<base64> entries"
	case schemeStripe:
		sig, err = webhook.ParseStripe(c.Signature)
		wantTimestamp, wantSignature = "t= must be unix seconds", "want t=<unix>,v1=<hex>"
	default:
		return c.parseSHA256Hex()
	}
	switch {
	case errors.Is(err, webhook.ErrTimestampMalformed):
		return webhook.Signature{}, []string{"malformed timestamp: " + wantTimestamp}, nil
	case err != nil:
		return webhook.Signature{}, []string{"malformed signature: " + wantSignature}, nil
	}
	return sig, nil, nil
}

// parseSHA256Hex reads the LLM service's and GitHub's sha256=<lowercase
// hex>, past a missing prefix and upper-case digits, which it reports.
func (c *VerifyCmd) parseSHA256Hex() (webhook.Signature, []string, error) {
	var findings []string
	digits, ok := strings.CutPrefix(strings.TrimSpace(c.Signature), "sha256=")
	if !ok {
		findings = append(findings, `missing "sha256=" prefix: the header value is "sha256=" followed by the hex digest`)
	}
	if digits != strings.ToLower(digits) {
		findings = append(findings, "upper-case hex: the sender writes the digest in lower case; compare decoded bytes, or lower-case it first")
	}
	sig, err := webhook.ParseSHA256Hex("sha256=" + digits)
	if err != nil {
		return webhook.Signature{}, append(findings, "malformed signature: want sha256= and 64 hex digits"), nil
	}
	return sig, findings, nil
}

// A secretForm derives the secret actually tried from one given.
type secretForm func(string) string

// namedForm is a secretForm and how findings describe it.
type namedForm struct {
	name string
	f    secretForm
}

// trimmed is the secret as the LLM service and callbackd use it.
func trimmed(s string) string { return strings.TrimSpace(s) }

// firstMatch returns the index of the first secret, in form, under which sig
// matches body, or -1.
func (c *VerifyCmd) firstMatch(sig webhook.Signature, body []byte, form secretForm) int {
	for i, s := range c.Secret {
		if key, ok := c.key(form(s)); ok && sig.Matches(key, body) {
			return i
		}
	}
	return -1
}

// key returns the HMAC key of a secret: the decoded bytes of a Standard
// Webhooks "whsec_" secret, the secret itself otherwise.
func (c *VerifyCmd) key(secret string) ([]byte, bool) {
	if c.Scheme != schemeStandard {
		return []byte(secret), true
	}
	k, err := webhook.StandardKey(secret)
	return k, err == nil
}

// diagnose looks for the usual causes of a mismatch: whitespace around the
// secret, a re-serialised body, the sender's development secret, and
// otherwise reports a wrong secret.
func (c *VerifyCmd) diagnose(sig webhook.Signature, body []byte) []string {
	forms := []namedForm{{"as given, untrimmed", func(s string) string { return s }}}
	for _, ws := range []string{"\n", "\r\n", " "} {
		forms = append(forms,
			namedForm{fmt.Sprintf("followed by %q", ws), func(s string) string { return strings.TrimSpace(s) + ws }},
			namedForm{fmt.Sprintf("preceded by %q", ws), func(s string) string { return ws + strings.TrimSpace(s) }})
	}
	for _, form := range forms {
		if i := c.firstMatch(sig, body, form.f); i >= 0 {
			return []string{fmt.Sprintf("whitespace around the secret: the signature was made with secret #%d %s; the LLM service trims its secret, so the signing side kept whitespace the receiver trims (or the reverse)", i+1, form.name)}
		}
	}
	var findings []string
	for _, variant := range reserialised(body) {
		if i := c.firstMatch(sig, variant.body, trimmed); i >= 0 {
			findings = append(findings, fmt.Sprintf("body re-serialised: the signature matches this JSON written as %s, under secret #%d, not the bytes given: verify the raw request body, before any JSON parsing", variant.name, i+1))
		}
	}
	if len(findings) > 0 {
		return findings
	}
	if c.Scheme == schemeLLM && !slices.Contains(c.Secret, webhook.DevelopmentLLMSecret) && sig.Matches([]byte(webhook.DevelopmentLLMSecret), body) {
		return []string{"wrong secret: the signature was made with the LLM service's public development secret (LLM_WEBHOOK_SECRET unset on the sender)"}
	}
	return []string{fmt.Sprintf("wrong secret: the signature matches none of the %d secret(s) given (the LLM service signs with the job's webhook_secret when it has one, else LLM_WEBHOOK_SECRET)", len(c.Secret))}
}

// serialisation is a way of writing JSON, and a body written that way.
type serialisation struct {
	name string
	body []byte
}

// reserialised returns body's JSON written the usual other ways, each
// distinct and different from body: the sender's own form (Python's compact sorted
// json.dumps), Python's default spaced separators, and compact and spaced
// in the body's key order.
func reserialised(body []byte) []serialisation {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	python, err := webhook.PythonJSON(v)
	if err != nil {
		return nil
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, body) // body is valid JSON
	var out []serialisation
	for _, variant := range []serialisation{
		{"compact with sorted keys (the sender's form, json.dumps(separators=(',', ':'), sort_keys=True))", python},
		{"spaced with sorted keys (json.dumps(sort_keys=True))", spaced(python)},
		{"compact in the body's key order", compact.Bytes()},
		{"spaced in the body's key order (json.dumps without sort_keys)", spaced(compact.Bytes())},
	} {
		if !bytes.Equal(variant.body, body) && !slices.ContainsFunc(out, func(o serialisation) bool { return bytes.Equal(o.body, variant.body) }) {
			out = append(out, variant)
		}
	}
	return out
}

// spaced puts a space after each ',' and ':' of compact JSON, outside
// strings: Python's default separators.
func spaced(compact []byte) []byte {
	out := make([]byte, 0, len(compact)+len(compact)/8)
	inString, escaped := false, false
	for _, b := range compact {
		out = append(out, b)
		switch {
		case escaped:
			escaped = false
		case inString && b == '\\':
			escaped = true
		case b == '"':
			inString = !inString
		case !inString && (b == ',' || b == ':'):
			out = append(out, ' ')
		}
	}
	return out
}

// ago describes a signature's age: "2h0m0s ago" or "5m0s in the future".
func ago(d time.Duration) string {
	if d < 0 {
		return (-d).Round(time.Second).String() + " in the future"
	}
	return d.Round(time.Second).String() + " ago"
}
