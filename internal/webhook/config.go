package webhook

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a timestamped scheme's timestamp may be from
// now, in either direction, when Config.Tolerance is zero.
const DefaultTolerance = 5 * time.Minute

// DevelopmentLLMSecret is the LLM service's default LLM_WEBHOOK_SECRET. A
// server may accept it out of the box, and must then warn that it is public.
const DevelopmentLLMSecret = "default-webhook-secret-change-in-production"

// Config configures a Verifier.
type Config struct {
	// Secrets maps a scheme name (a Scheme constant) to its secrets. The
	// SchemeLLM entry is required: that scheme is always on. Any other scheme
	// is on exactly when it has an entry, which must then hold secrets.
	//
	// Each secret is written NAME=SECRET, or as a bare SECRET named
	// "secret-N" by its 1-based position. The text before the first '=' is a
	// name when it is made of letters, digits, '.', '_' and '-' and the entry
	// does not start with "whsec_" (Standard Webhooks and Stripe secrets, whose
	// base64 may end in '='); otherwise the whole entry is the secret. So a
	// bare secret containing '=' must be given a name: "main=abc=".
	//
	// Surrounding whitespace is trimmed from every secret, as the LLM service
	// strips its own. Standard Webhooks secrets are "whsec_" and base64 (the
	// HMAC key is the decoded bytes); the other schemes use the secret as is.
	Secrets map[string][]string
	// Tolerance bounds the age and the lead of timestamps, in whole seconds;
	// zero means DefaultTolerance.
	Tolerance time.Duration
	// AllowUnsigned accepts deliveries that carry no signature header at all,
	// as SchemeUnsigned with Result.Valid false. For local experiments only.
	AllowUnsigned bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewVerifier validates cfg and returns a Verifier. It reports every problem
// at once, joined: unknown scheme names, a missing SchemeLLM entry, schemes
// without secrets, empty secrets, duplicate names within a scheme, malformed
// "whsec_" secrets and a tolerance under one second. No message holds a
// secret.
func NewVerifier(cfg Config) (*Verifier, error) {
	var errs []error
	if cfg.Tolerance < 0 || (cfg.Tolerance > 0 && cfg.Tolerance < time.Second) {
		errs = append(errs, fmt.Errorf("webhook: tolerance %s: want at least 1s", cfg.Tolerance))
	}
	if _, ok := cfg.Secrets[SchemeLLM]; !ok {
		errs = append(errs, fmt.Errorf("webhook: scheme %s: no secret configured (the scheme is always on)", SchemeLLM))
	}
	v := &Verifier{
		keys:          make(map[string][]key, len(cfg.Secrets)),
		tolerance:     int64(DefaultTolerance / time.Second),
		allowUnsigned: cfg.AllowUnsigned,
		now:           cfg.Now,
	}
	if cfg.Tolerance > 0 {
		v.tolerance = int64(cfg.Tolerance / time.Second)
	}
	if v.now == nil {
		v.now = time.Now
	}
	// Sorted, so that the joined error reads the same on every start.
	for _, scheme := range slices.Sorted(maps.Keys(cfg.Secrets)) {
		keys, schemeErrs := parseKeys(scheme, cfg.Secrets[scheme])
		v.keys[scheme] = keys
		errs = append(errs, schemeErrs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return v, nil
}

// parseKeys reads the secrets of one scheme.
func parseKeys(scheme string, entries []string) ([]key, []error) {
	switch scheme {
	case SchemeLLM, SchemeStandard, SchemeGitHub, SchemeStripe:
	default:
		return nil, []error{fmt.Errorf("webhook: unknown scheme %q (known: %s, %s, %s, %s)",
			scheme, SchemeLLM, SchemeStandard, SchemeGitHub, SchemeStripe)}
	}
	if len(entries) == 0 {
		return nil, []error{fmt.Errorf("webhook: scheme %s: enabled with no secret", scheme)}
	}
	var keys []key
	var errs []error
	seen := make(map[string]bool, len(entries))
	for i, entry := range entries {
		name, secret := splitSecret(entry, i)
		if seen[name] {
			errs = append(errs, fmt.Errorf("webhook: scheme %s: duplicate secret name %q", scheme, name))
		}
		seen[name] = true
		if secret == "" {
			errs = append(errs, fmt.Errorf("webhook: scheme %s: secret %q is empty", scheme, name))
			continue
		}
		k := key{name: name, secret: []byte(secret)}
		if scheme == SchemeStandard {
			var err error
			if k.secret, err = StandardKey(secret); err != nil {
				errs = append(errs, fmt.Errorf("webhook: scheme %s: secret %q: %w", scheme, name, err))
				continue
			}
		}
		keys = append(keys, k)
	}
	return keys, errs
}

// splitSecret splits a NAME=SECRET entry (see Config.Secrets) and trims the
// secret; i is the entry's 0-based position.
func splitSecret(entry string, i int) (name, secret string) {
	name, secret, ok := strings.Cut(entry, "=")
	if !ok || !isName(name) || strings.HasPrefix(entry, "whsec_") {
		return "secret-" + strconv.Itoa(i+1), strings.TrimSpace(entry)
	}
	return name, strings.TrimSpace(secret)
}

// isName reports whether s is a non-empty run of letters, digits, '.', '_'
// and '-'.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
