// Package auth decides who an admin request comes from and whether that
// caller is an admin. It knows nothing of transports: gRPC, Connect,
// gRPC-Web and the REST gateway all hand it the raw Authorization header
// value and map its two sentinel errors to status codes.
//
// Two kinds of bearer credential are accepted:
//
//   - static API tokens (Config.Tokens), each bound to a named admin and
//     compared in constant time;
//   - JWTs from an identity provider: HS256 with a shared secret, and RS256 or
//     ES256 with keys from a JWKS URL that is cached and refreshed. A valid JWT
//     makes its subject an admin only when Config.AdminClaim matches.
//
// ErrUnauthenticated (401) means no usable credential was presented;
// ErrPermissionDenied (403) means the credential is valid but its holder is
// not an admin. The identity always comes from the credential.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/redact"
)

// IdentityNamespace is the UUID namespace from which identities without an
// explicit UUID are derived (UUIDv5): a static token's from its name, a JWT's
// from "jwt:" and its non-UUID subject. Changing it changes every derived id.
var IdentityNamespace = uuid.MustParse("6b1f3c2e-8d4a-5e7b-9c0d-2f4e6a8b0c1d")

// DefaultAdminClaim is the admin rule used when Config.AdminClaim is empty.
const DefaultAdminClaim = "role=admin"

// MinTokenLength is the shortest static token accepted, in bytes.
const MinTokenLength = 16

// MinHS256SecretLength is the shortest HS256 secret accepted, in bytes:
// RFC 7518 §3.2 requires a key at least as long as the hash output.
const MinHS256SecretLength = 32

// DefaultJWKSRefreshInterval is how often the JWKS is fetched again when
// Config.JWKSRefreshInterval is zero.
const DefaultJWKSRefreshInterval = time.Hour

// Identity is an authenticated caller.
type Identity struct {
	// ID is the caller's stable UUID.
	ID uuid.UUID
	// Name is a display name: the token name, or the JWT's email, name,
	// preferred_username or subject.
	Name string
	// Admin reports whether the caller is an admin. Authenticate returns an
	// Identity with Admin false only together with ErrPermissionDenied.
	Admin bool
	// Source is "token" for a static token and "jwt" for a JWT.
	Source string
}

// Identity sources.
const (
	SourceToken = "token"
	SourceJWT   = "jwt"
)

// Config configures an Authenticator. At least one credential (a token, an
// HS256 secret or a JWKS URL) is required.
type Config struct {
	// Tokens are the static API tokens; every token holder is an admin.
	Tokens []Token
	// JWTHS256Secret enables HS256 JWTs signed with this shared secret.
	JWTHS256Secret string
	// JWKSURL enables RS256 and ES256 JWTs whose keys are served at this
	// http(s) URL.
	JWKSURL string
	// Issuer, when set, must equal a JWT's iss claim.
	Issuer string
	// Audience, when set, must be among a JWT's aud claim.
	Audience string
	// AdminClaim is the admin rule for JWTs, "path=value" with a dotted path;
	// empty means DefaultAdminClaim. See ParseClaimRule.
	AdminClaim string
	// JWKSRefreshInterval is how often the JWKS is fetched in the background;
	// zero means DefaultJWKSRefreshInterval.
	JWKSRefreshInterval time.Duration
	// HTTPClient fetches the JWKS; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
}

// Authenticator checks Authorization header values. It is safe for
// concurrent use.
type Authenticator struct {
	tokens []tokenEntry
	jwt    *jwtVerifier // nil when no JWT method is configured
}

type tokenEntry struct {
	digest [sha256.Size]byte
	id     Identity
}

// Validate reports every problem of cfg's settings at once, without
// fetching or starting anything, so that a server can check them before it
// opens its database. It does not require a credential: a caller that will
// add one later (a generated token) validates the rest first. New runs it.
func (cfg Config) Validate() error {
	var problems []error
	problem := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf(format, args...))
	}
	names := make(map[string]bool)
	digests := make(map[[sha256.Size]byte]string)
	for i, t := range cfg.Tokens {
		label := fmt.Sprintf("admin token %d (%q)", i+1, t.Name)
		switch {
		case strings.TrimSpace(t.Name) == "":
			problem("admin token %d: empty name", i+1)
		case names[t.Name]:
			problem("%s: duplicate name", label)
		}
		names[t.Name] = true
		switch {
		case t.Secret == "":
			problem("%s: empty token", label)
			continue
		case len(t.Secret) < MinTokenLength:
			problem("%s: token is %d bytes, want at least %d", label, len(t.Secret), MinTokenLength)
		case strings.ContainsFunc(t.Secret, isSpaceOrControl):
			// A bearer token with whitespace could never be presented.
			problem("%s: token contains whitespace or control characters", label)
		}
		d := sha256.Sum256([]byte(t.Secret))
		if other, dup := digests[d]; dup {
			problem("%s: same token as %q", label, other)
		}
		digests[d] = t.Name
	}

	if cfg.JWTHS256Secret != "" && len(cfg.JWTHS256Secret) < MinHS256SecretLength {
		problem("JWT HS256 secret is %d bytes, want at least %d", len(cfg.JWTHS256Secret), MinHS256SecretLength)
	}
	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		switch {
		case err != nil:
			problem("JWKS URL: %w", redact.Error(err, cfg.JWKSURL))
		case u.Scheme != "http" && u.Scheme != "https":
			problem("JWKS URL %q: scheme must be http or https", redact.URL(cfg.JWKSURL))
		case u.Host == "":
			problem("JWKS URL %q: no host", redact.URL(cfg.JWKSURL))
		}
	}
	if cfg.JWKSRefreshInterval < 0 {
		problem("JWKS refresh interval %v is negative", cfg.JWKSRefreshInterval)
	}
	if !cfg.jwtOn() {
		if cfg.Issuer != "" {
			problem("JWT issuer is set but neither an HS256 secret nor a JWKS URL is")
		}
		if cfg.Audience != "" {
			problem("JWT audience is set but neither an HS256 secret nor a JWKS URL is")
		}
	}
	if _, err := ParseClaimRule(cfg.adminClaim()); err != nil {
		problem("JWT admin claim: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("admin auth configuration: %w", errors.Join(problems...))
	}
	return nil
}

// jwtOn reports whether a JWT method is configured.
func (cfg Config) jwtOn() bool { return cfg.JWTHS256Secret != "" || cfg.JWKSURL != "" }

// adminClaim is the admin rule's text, DefaultAdminClaim when unset.
func (cfg Config) adminClaim() string {
	if cfg.AdminClaim == "" {
		return DefaultAdminClaim
	}
	return cfg.AdminClaim
}

// New validates cfg (Validate, and at least one credential), reporting
// every problem at once, and returns an Authenticator. When cfg.JWKSURL is
// set it fetches the key set once (a failure is logged, not returned, so
// that an identity provider outage does not stop the server) and refreshes
// it in the background until ctx ends.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Authenticator, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	err := cfg.Validate()
	if len(cfg.Tokens) == 0 && !cfg.jwtOn() {
		err = errors.Join(err, errors.New("admin auth configuration: no admin credential configured: give an admin token, a JWT HS256 secret or a JWKS URL"))
	}
	if err != nil {
		return nil, err
	}
	a := &Authenticator{}
	for _, t := range cfg.Tokens {
		a.tokens = append(a.tokens, tokenEntry{digest: sha256.Sum256([]byte(t.Secret)), id: t.identity()})
	}
	if u, _ := url.Parse(cfg.JWKSURL); cfg.JWKSURL != "" && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		log.WarnContext(ctx, "JWKS URL is plain http: keys can be replaced in transit", "url", redact.URL(cfg.JWKSURL))
	}
	rule, err := ParseClaimRule(cfg.adminClaim())
	if err != nil {
		return nil, fmt.Errorf("admin auth configuration: JWT admin claim: %w", err)
	}
	if cfg.jwtOn() {
		a.jwt, err = newJWTVerifier(ctx, cfg, rule, log)
		if err != nil {
			return nil, fmt.Errorf("admin auth configuration: %w", err)
		}
	}
	log.InfoContext(ctx, "admin auth configured",
		"tokens", len(a.tokens),
		"jwt_hs256", cfg.JWTHS256Secret != "",
		"jwks_url", redact.URL(cfg.JWKSURL),
		"jwt_issuer", cfg.Issuer,
		"jwt_audience", cfg.Audience,
		"jwt_admin_claim", rule.String())
	return a, nil
}

// Authenticate checks the raw value of an Authorization header,
// "Bearer <token>" with the scheme in any case. It returns the caller's
// identity, or an *Error wrapping ErrUnauthenticated (no valid credential) or
// ErrPermissionDenied (a valid JWT whose holder is not an admin; the Identity
// is then returned too).
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (Identity, error) {
	fields := strings.Fields(authorization)
	switch {
	case len(fields) == 0:
		return Identity{}, unauthenticated(DetailMissingCredential, errors.New("no Authorization header"))
	case !strings.EqualFold(fields[0], "Bearer"):
		return Identity{}, unauthenticated(DetailBadScheme, errors.New("authorization scheme is not Bearer"))
	case len(fields) == 1:
		return Identity{}, unauthenticated(DetailMissingCredential, errors.New("empty bearer token"))
	case len(fields) > 2:
		return Identity{}, unauthenticated(DetailBadScheme, errors.New("bearer token contains spaces"))
	}
	token := fields[1]

	if id, ok := a.matchToken(token); ok {
		return id, nil
	}
	if a.jwt != nil && strings.Count(token, ".") == 2 {
		return a.jwt.verify(ctx, token)
	}
	return Identity{}, unauthenticated(DetailUnknownToken, errors.New("token matches no static token and is not a JWT"))
}

// matchToken compares the token's digest with every configured digest,
// without stopping at a match, so that timing reveals neither which token
// matched nor how many there are. Comparing fixed-length digests also hides
// the configured tokens' lengths.
func (a *Authenticator) matchToken(token string) (Identity, bool) {
	d := sha256.Sum256([]byte(token))
	match := -1
	for i := range a.tokens {
		eq := subtle.ConstantTimeCompare(d[:], a.tokens[i].digest[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return Identity{}, false
	}
	return a.tokens[match].id, true
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f || strings.ContainsRune("\u0085\u00a0\u2028\u2029", r)
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// The sentinel errors of Authenticate, each the Kind of an *Error.
var (
	ErrUnauthenticated  = apierror.New(apierror.Unauthenticated, "unauthenticated")
	ErrPermissionDenied = apierror.New(apierror.PermissionDenied, "permission denied")
)

// Details reported by Detail, stable for logs and metric labels.
const (
	DetailMissingCredential = "missing_credential"
	DetailBadScheme         = "bad_scheme"
	DetailUnknownToken      = "unknown_token"
	DetailInvalidJWT        = "invalid_jwt"
	DetailExpired           = "expired"
	DetailNotYetValid       = "not_yet_valid"
	DetailWrongIssuer       = "wrong_issuer"
	DetailWrongAudience     = "wrong_audience"
	DetailNotAdmin          = "not_admin"
	// DetailUnknownSession: a browser's session cookie names no live
	// session (reported by the transport that reads cookies).
	DetailUnknownSession = "unknown_session"
)

// Error is the error Authenticate returns. Its message is generic and safe
// to show to clients, and its Reason is only unauthenticated or
// permission_denied; Detail and Cause are for logs and metrics only, since
// telling an attacker why a credential failed helps them.
type Error struct {
	// Kind is ErrUnauthenticated or ErrPermissionDenied.
	Kind error
	// Detail is one of the Detail constants.
	Detail string
	// Cause is the precise failure.
	Cause error
}

// Error returns a message that reveals nothing about the credential.
func (e *Error) Error() string {
	if e.Kind == ErrPermissionDenied {
		return "permission denied: admin role required"
	}
	if e.Detail == DetailMissingCredential {
		return "unauthenticated: missing credential"
	}
	return "unauthenticated: invalid credential"
}

// Unwrap returns Kind and Cause, so errors.Is works on both.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Cause} }

// LogValue logs the reason and the precise cause, which Error omits.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kind", e.Kind.Error()), slog.String("reason", e.Detail)}
	if e.Cause != nil {
		attrs = append(attrs, slog.String("cause", e.Cause.Error()))
	}
	return slog.GroupValue(attrs...)
}

// Reason is what clients are told: unauthenticated, or permission_denied.
func (e *Error) Reason() apierror.Reason {
	if e.Kind == ErrPermissionDenied {
		return apierror.PermissionDenied
	}
	return apierror.Unauthenticated
}

// Detail returns the detail of an authentication error: "" for nil and
// "internal" for an error that is not an *Error.
func Detail(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Detail
	}
	return "internal"
}

func unauthenticated(detail string, cause error) error {
	return &Error{Kind: ErrUnauthenticated, Detail: detail, Cause: cause}
}

func jwtError(err error) error {
	detail := DetailInvalidJWT
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		detail = DetailExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		detail = DetailNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		detail = DetailWrongIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		detail = DetailWrongAudience
	}
	return unauthenticated(detail, err)
}
