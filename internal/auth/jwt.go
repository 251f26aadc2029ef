package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/callbackd/callbackd/internal/redact"
)

// jwtLeeway is the clock skew tolerated on exp, nbf and iat.
const jwtLeeway = 30 * time.Second

// jwksUnknownKIDInterval bounds how often a token with an unknown kid may
// make the JWKS be fetched again, so forged kids cannot hammer the identity
// provider. A genuinely rotated key is picked up by the first such token.
const jwksUnknownKIDInterval = time.Minute

// jwksFetchTimeout bounds one JWKS fetch, and how long a request waits for
// the unknown-kid rate limit (longer waits fail at once).
const jwksFetchTimeout = 10 * time.Second

type jwtVerifier struct {
	parser  *jwt.Parser
	hs256   []byte         // nil when HS256 is off
	jwks    jwkset.Storage // nil when RS256/ES256 are off
	jwksURL string         // masked in every error: it may carry credentials
	rule    ClaimRule
}

func newJWTVerifier(ctx context.Context, cfg Config, rule ClaimRule, log *slog.Logger) (*jwtVerifier, error) {
	v := &jwtVerifier{rule: rule, jwksURL: cfg.JWKSURL}
	// Each algorithm is allowed only with its own key source, and keyFunc
	// checks the key type again: an RSA public key can never become an HMAC
	// secret (algorithm confusion), nor can "none" ever be accepted.
	var methods []string
	if cfg.JWTHS256Secret != "" {
		v.hs256 = []byte(cfg.JWTHS256Secret)
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.JWKSURL != "" {
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: jwksFetchTimeout}
		}
		interval := cfg.JWKSRefreshInterval
		if interval == 0 {
			interval = DefaultJWKSRefreshInterval
		}
		store, err := jwkset.NewStorageFromHTTP(cfg.JWKSURL, jwkset.HTTPClientStorageOptions{
			Client:                    client,
			Ctx:                       ctx, // ends the refresh goroutine
			HTTPTimeout:               jwksFetchTimeout,
			NoErrorReturnFirstHTTPReq: true,
			RefreshInterval:           interval,
			RefreshErrorHandler: func(ctx context.Context, err error) {
				log.WarnContext(ctx, "fetch JWKS", "url", redact.URL(cfg.JWKSURL), "error", redact.Error(err, cfg.JWKSURL))
			},
		})
		if err != nil {
			return nil, fmt.Errorf("JWKS %s: %w", redact.URL(cfg.JWKSURL), redact.Error(err, cfg.JWKSURL))
		}
		v.jwks, err = jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
			HTTPURLs:          map[string]jwkset.Storage{cfg.JWKSURL: store},
			RateLimitWaitMax:  jwksFetchTimeout,
			RefreshUnknownKID: rate.NewLimiter(rate.Every(jwksUnknownKIDInterval), 1),
		})
		if err != nil {
			return nil, fmt.Errorf("JWKS %s: %w", redact.URL(cfg.JWKSURL), redact.Error(err, cfg.JWKSURL))
		}
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(jwtLeeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

func (v *jwtVerifier) verify(ctx context.Context, token string) (Identity, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if err := checkCritical(t.Header); err != nil {
			return nil, err
		}
		return v.key(ctx, t)
	})
	if err != nil {
		return Identity{}, jwtError(err)
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return Identity{}, unauthenticated(DetailInvalidJWT, errors.New("JWT has no sub claim"))
	}
	id := Identity{ID: SubjectID(sub), Name: DisplayName(claims, sub), Source: SourceJWT}
	if err := v.rule.Check(claims); err != nil {
		return id, &Error{Kind: ErrPermissionDenied, Detail: DetailNotAdmin, Cause: err}
	}
	id.Admin = true
	return id, nil
}

// checkCritical rejects a token whose header has a "crit" parameter. It
// lists header extensions that a recipient must understand and process, or
// else reject the token (RFC 7515 §4.1.11); this server implements none, so
// whatever crit holds (even a malformed or empty list, which producers must
// not send) the token is refused rather than verified while ignoring what its
// issuer declared critical.
func checkCritical(header map[string]any) error {
	if crit, ok := header["crit"]; ok {
		return fmt.Errorf("JWT header crit %v names extensions this server does not understand (RFC 7515 §4.1.11)", crit)
	}
	return nil
}

// SubjectID is the UUID in sub (Supabase's user id), or one derived from
// it: the identity of a JWT's or an OIDC ID token's subject, the same for
// both, so that an admin keeps their views whichever way they sign in. Only
// the canonical lowercase form is taken as is, so that two different
// subjects ("{x}" and "x", say) never share an ID.
func SubjectID(sub string) uuid.UUID {
	if id, err := uuid.Parse(sub); err == nil && id.String() == sub {
		return id
	}
	return uuid.NewSHA1(IdentityNamespace, []byte("jwt:"+sub))
}

// DisplayName is the name an identity token's claims give its holder: its
// email, name or preferred_username, the first that is a non-empty string,
// or else sub.
func DisplayName(claims map[string]any, sub string) string {
	for _, c := range []string{"email", "name", "preferred_username"} {
		if s, _ := claims[c].(string); s != "" {
			return s
		}
	}
	return sub
}

// key returns the verification key for t. The parser has already checked
// that t's algorithm is one the configuration allows.
func (v *jwtVerifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if alg == jwt.SigningMethodHS256.Alg() {
		if v.hs256 == nil {
			return nil, errors.New("HS256 is not configured")
		}
		return v.hs256, nil
	}
	if v.jwks == nil {
		return nil, fmt.Errorf("%s needs a JWKS, and none is configured", alg)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("JWT header has no kid")
	}
	jwk, err := v.jwks.KeyRead(ctx, kid)
	if err != nil {
		return nil, fmt.Errorf("JWKS key %q: %w", kid, redact.Error(err, v.jwksURL))
	}
	m := jwk.Marshal()
	if m.ALG != "" && string(m.ALG) != alg {
		return nil, fmt.Errorf("JWKS key %q is for %s, not %s", kid, m.ALG, alg)
	}
	if m.USE != "" && m.USE != jwkset.UseSig {
		return nil, fmt.Errorf("JWKS key %q is for use %q, not sig", kid, m.USE)
	}
	key := jwk.Key()
	if priv, ok := key.(crypto.Signer); ok {
		key = priv.Public()
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if alg == jwt.SigningMethodRS256.Alg() {
			return k, nil
		}
	case *ecdsa.PublicKey:
		if alg == jwt.SigningMethodES256.Alg() && k.Curve == elliptic.P256() {
			return k, nil
		}
	}
	return nil, fmt.Errorf("JWKS key %q (%T) cannot verify %s", kid, key, alg)
}
