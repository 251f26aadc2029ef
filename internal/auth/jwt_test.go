package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

const (
	hsSecret = "hs256-shared-secret-0123456789abcdef"
	issuer   = "https://idp.example/auth/v1"
	audience = "authenticated"
)

var adminSub = uuid.MustParse("9d7f1c3a-5b2e-4f60-8a1d-2c3b4d5e6f70")

// claims returns valid admin claims with overrides applied; a nil override
// deletes the claim.
func claims(overrides jwt.MapClaims) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub":   adminSub.String(),
		"email": "ada@example.com",
		"role":  "admin",
		"iss":   issuer,
		"aud":   audience,
		"iat":   now.Unix(),
		"exp":   now.Add(5 * time.Minute).Unix(),
	}
	for k, v := range overrides {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func TestHS256(t *testing.T) {
	t.Parallel()
	a, err := New(t.Context(), Config{JWTHS256Secret: hsSecret, Issuer: issuer, Audience: audience}, nil)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	now := time.Now()
	admin := Identity{ID: adminSub, Name: "ada@example.com", Admin: true, Source: SourceJWT}

	tests := []struct {
		name   string
		token  string
		want   Identity
		reason string // "" means success
	}{
		{"valid", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(nil)), admin, ""},
		{"audience in an array", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(jwt.MapClaims{"aud": []string{"other", audience}})), admin, ""},
		{"expired within leeway", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()})), admin, ""},
		{"expired", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), Identity{}, DetailExpired},
		{"no exp", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(jwt.MapClaims{"exp": nil})), Identity{}, DetailInvalidJWT},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(jwt.MapClaims{"nbf": now.Add(time.Minute).Unix()})), Identity{}, DetailNotYetValid},
		{"nbf within leeway", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(jwt.MapClaims{"nbf": now.Add(10 * time.Second).Unix()})), admin, ""},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(jwt.MapClaims{"iat": now.Add(time.Minute).Unix()})), Identity{}, DetailNotYetValid},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte(hsSecret+"x"), "", claims(nil)), Identity{}, DetailInvalidJWT},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(jwt.MapClaims{"iss": "https://evil.example"})), Identity{}, DetailWrongIssuer},
		{"no issuer", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(jwt.MapClaims{"iss": nil})), Identity{}, DetailInvalidJWT},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(jwt.MapClaims{"aud": "anon"})), Identity{}, DetailWrongAudience},
		{"no sub", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(jwt.MapClaims{"sub": nil})), Identity{}, DetailInvalidJWT},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims(nil)), Identity{}, DetailInvalidJWT},
		{"HS512 with the right secret", sign(t, jwt.SigningMethodHS512, []byte(hsSecret), "", claims(nil)), Identity{}, DetailInvalidJWT},
		{"RS256 without a JWKS", sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil)), Identity{}, DetailInvalidJWT},
		{"signature stripped", sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(nil))[:60] + ".", Identity{}, DetailInvalidJWT},
		{"garbage", "not.a.jwt", Identity{}, DetailInvalidJWT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := a.Authenticate(t.Context(), "Bearer "+tt.token)
			if tt.reason == "" {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			require.ErrorIs(t, err, ErrUnauthenticated)
			require.NotErrorIs(t, err, ErrPermissionDenied)
			require.Equal(t, tt.reason, Detail(err), "cause: %v", err.(*Error).Cause)
			require.Equal(t, Identity{}, got)
		})
	}
}

func TestJWTIdentity(t *testing.T) {
	t.Parallel()
	a, err := New(t.Context(), Config{JWTHS256Secret: hsSecret}, nil)
	require.NoError(t, err)
	tests := []struct {
		name     string
		override jwt.MapClaims
		wantID   uuid.UUID
		wantName string
	}{
		{"uuid sub and email", nil, adminSub, "ada@example.com"},
		{"name", jwt.MapClaims{"email": nil, "name": "Ada Lovelace"}, adminSub, "Ada Lovelace"},
		{"preferred_username", jwt.MapClaims{"email": "", "preferred_username": "ada"}, adminSub, "ada"},
		{"sub as name", jwt.MapClaims{"email": nil}, adminSub, adminSub.String()},
		{"non-uuid sub", jwt.MapClaims{"sub": "auth0|123", "email": nil}, uuid.NewSHA1(IdentityNamespace, []byte("jwt:auth0|123")), "auth0|123"},
		{"braced uuid sub is not the uuid", jwt.MapClaims{"sub": "{" + adminSub.String() + "}"}, uuid.NewSHA1(IdentityNamespace, []byte("jwt:{"+adminSub.String()+"}")), "ada@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := a.Authenticate(t.Context(), "Bearer "+sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(tt.override)))
			require.NoError(t, err)
			require.Equal(t, Identity{ID: tt.wantID, Name: tt.wantName, Admin: true, Source: SourceJWT}, got)
		})
	}
}

func TestAdminClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rule   string // Config.AdminClaim
		claims jwt.MapClaims
		admin  bool
	}{
		{"default rule matches", "", jwt.MapClaims{"role": "admin"}, true},
		{"default rule, other role", "", jwt.MapClaims{"role": "authenticated"}, false},
		{"default rule, no role", "", jwt.MapClaims{"role": nil}, false},
		{"default rule is case-sensitive", "", jwt.MapClaims{"role": "Admin"}, false},
		{"supabase app_metadata", "app_metadata.role=ADMIN", jwt.MapClaims{"role": "authenticated", "app_metadata": map[string]any{"provider": "email", "role": "ADMIN"}}, true},
		{"supabase app_metadata, user", "app_metadata.role=ADMIN", jwt.MapClaims{"app_metadata": map[string]any{"role": "USER"}}, false},
		{"supabase, top-level role does not count", "app_metadata.role=ADMIN", jwt.MapClaims{"role": "ADMIN"}, false},
		{"supabase, app_metadata not an object", "app_metadata.role=ADMIN", jwt.MapClaims{"app_metadata": "ADMIN"}, false},
		{"array claim contains", "roles=admin", jwt.MapClaims{"roles": []string{"user", "admin"}}, true},
		{"array claim lacks", "roles=admin", jwt.MapClaims{"roles": []string{"user", "administrator"}}, false},
		{"nested array", "realm_access.roles=callbackd-admin", jwt.MapClaims{"realm_access": map[string]any{"roles": []string{"callbackd-admin"}}}, true},
		{"number is not a string", "level=1", jwt.MapClaims{"level": 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := New(t.Context(), Config{JWTHS256Secret: hsSecret, AdminClaim: tt.rule}, nil)
			require.NoError(t, err)
			token := sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(tt.claims))
			got, err := a.Authenticate(t.Context(), "Bearer "+token)
			if tt.admin {
				require.NoError(t, err)
				require.True(t, got.Admin)
				return
			}
			// A valid token of a non-admin: 403, not 401, with who it was.
			require.ErrorIs(t, err, ErrPermissionDenied)
			require.NotErrorIs(t, err, ErrUnauthenticated)
			require.Equal(t, DetailNotAdmin, Detail(err))
			require.Equal(t, Identity{ID: adminSub, Name: "ada@example.com", Source: SourceJWT}, got)
		})
	}
}

func TestParseClaimRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want ClaimRule
		err  string
	}{
		{"role=admin", ClaimRule{Path: []string{"role"}, Value: "admin"}, ""},
		{"app_metadata.role=ADMIN", ClaimRule{Path: []string{"app_metadata", "role"}, Value: "ADMIN"}, ""},
		{" groups = a=b ", ClaimRule{Path: []string{"groups"}, Value: "a=b"}, ""},
		{"role", ClaimRule{}, "want path=value"},
		{"=admin", ClaimRule{}, "empty claim path"},
		{"role=", ClaimRule{}, "empty claim value"},
		{"app_metadata..role=x", ClaimRule{}, "empty segment"},
		{".role=x", ClaimRule{}, "empty segment"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseClaimRule(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			again, err := ParseClaimRule(got.String())
			require.NoError(t, err)
			require.Equal(t, got, again)
		})
	}
}

// jwksServer serves a JWK Set that tests can change, and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []jwkset.JWKMarshal
	status  int
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			w.WriteHeader(s.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) add(t *testing.T, kid string, alg jwkset.ALG, public any) {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(public, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig}})
	require.NoError(t, err)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, jwk.Marshal())
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

func newKeys(t *testing.T) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return rk, ek
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	rsaKey, ecKey := newKeys(t)
	otherRSA, otherEC := newKeys(t)
	srv := newJWKSServer(t)
	srv.add(t, "rsa1", jwkset.AlgRS256, &rsaKey.PublicKey)
	srv.add(t, "ec1", jwkset.AlgES256, &ecKey.PublicKey)
	srv.add(t, "rs512", jwkset.AlgRS512, &otherRSA.PublicKey)
	srv.add(t, "noalg", "", &otherEC.PublicKey)

	rsaDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	require.NoError(t, err)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER})

	jwksOnly, err := New(t.Context(), Config{JWKSURL: srv.URL, Issuer: issuer}, nil)
	require.NoError(t, err)
	both, err := New(t.Context(), Config{JWKSURL: srv.URL, JWTHS256Secret: hsSecret}, nil)
	require.NoError(t, err)
	admin := Identity{ID: adminSub, Name: "ada@example.com", Admin: true, Source: SourceJWT}

	tests := []struct {
		name   string
		a      *Authenticator
		token  string
		reason string // "" means admin
	}{
		{"RS256", jwksOnly, sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(nil)), ""},
		{"ES256", jwksOnly, sign(t, jwt.SigningMethodES256, ecKey, "ec1", claims(nil)), ""},
		{"ES256, key without alg", jwksOnly, sign(t, jwt.SigningMethodES256, otherEC, "noalg", claims(nil)), ""},
		{"RS256 and HS256 both on", both, sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(nil)), ""},
		{"HS256 and RS256 both on", both, sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(nil)), ""},
		{"RS256 signed by another key", jwksOnly, sign(t, jwt.SigningMethodRS256, otherRSA, "rsa1", claims(nil)), DetailInvalidJWT},
		{"ES256 signed by another key", jwksOnly, sign(t, jwt.SigningMethodES256, otherEC, "ec1", claims(nil)), DetailInvalidJWT},
		{"RS256 naming an EC key", jwksOnly, sign(t, jwt.SigningMethodRS256, rsaKey, "ec1", claims(nil)), DetailInvalidJWT},
		{"ES256 naming an RSA key", jwksOnly, sign(t, jwt.SigningMethodES256, ecKey, "rsa1", claims(nil)), DetailInvalidJWT},
		{"RS256 naming an RS512 key", jwksOnly, sign(t, jwt.SigningMethodRS256, otherRSA, "rs512", claims(nil)), DetailInvalidJWT},
		{"no kid", jwksOnly, sign(t, jwt.SigningMethodRS256, rsaKey, "", claims(nil)), DetailInvalidJWT},
		{"RS384 with a known key", jwksOnly, sign(t, jwt.SigningMethodRS384, rsaKey, "rsa1", claims(nil)), DetailInvalidJWT},
		{"expired", jwksOnly, sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claims(jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})), DetailExpired},
		{"wrong issuer", jwksOnly, sign(t, jwt.SigningMethodES256, ecKey, "ec1", claims(jwt.MapClaims{"iss": "https://evil.example"})), DetailWrongIssuer},
		// Algorithm confusion: HMAC keyed with the RSA public key, which
		// anyone can fetch from the JWKS.
		{"HS256 keyed with the public key PEM, JWKS only", jwksOnly, sign(t, jwt.SigningMethodHS256, rsaPEM, "rsa1", claims(nil)), DetailInvalidJWT},
		{"HS256 keyed with the public key DER, JWKS only", jwksOnly, sign(t, jwt.SigningMethodHS256, rsaDER, "rsa1", claims(nil)), DetailInvalidJWT},
		{"HS256 keyed with the public key PEM, both on", both, sign(t, jwt.SigningMethodHS256, rsaPEM, "rsa1", claims(nil)), DetailInvalidJWT},
		{"HS256 with the right secret, JWKS only", jwksOnly, sign(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims(nil)), DetailInvalidJWT},
		{"alg none", jwksOnly, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa1", claims(nil)), DetailInvalidJWT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.a.Authenticate(t.Context(), "Bearer "+tt.token)
			if tt.reason == "" {
				require.NoError(t, err)
				require.Equal(t, admin, got)
				return
			}
			require.ErrorIs(t, err, ErrUnauthenticated)
			require.Equal(t, tt.reason, Detail(err), "cause: %v", err.(*Error).Cause)
		})
	}
}

func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	oldKey, _ := newKeys(t)
	newKey, _ := newKeys(t)
	srv := newJWKSServer(t)
	srv.add(t, "old", jwkset.AlgRS256, &oldKey.PublicKey)
	a, err := New(t.Context(), Config{JWKSURL: srv.URL}, nil)
	require.NoError(t, err)
	require.EqualValues(t, 1, srv.fetches.Load(), "New fetches the JWKS once")

	auth := func(key *rsa.PrivateKey, kid string) error {
		_, err := a.Authenticate(t.Context(), "Bearer "+sign(t, jwt.SigningMethodRS256, key, kid, claims(nil)))
		return err
	}
	require.NoError(t, auth(oldKey, "old"))
	require.EqualValues(t, 1, srv.fetches.Load(), "known keys come from the cache")

	// The provider rotates: a token with the new kid makes the JWKS be
	// fetched again, and is then accepted.
	srv.add(t, "new", jwkset.AlgRS256, &newKey.PublicKey)
	require.NoError(t, auth(newKey, "new"))
	require.EqualValues(t, 2, srv.fetches.Load())
	require.NoError(t, auth(newKey, "new"))
	require.NoError(t, auth(oldKey, "old"))
	require.EqualValues(t, 2, srv.fetches.Load())

	// Forged kids cannot make it fetch again at once: they fail fast.
	start := time.Now()
	for _, kid := range []string{"forged1", "forged2", "forged3"} {
		err := auth(newKey, kid)
		require.ErrorIs(t, err, ErrUnauthenticated)
		require.Equal(t, DetailInvalidJWT, Detail(err))
	}
	require.EqualValues(t, 2, srv.fetches.Load())
	require.Less(t, time.Since(start), time.Second)
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	t.Parallel()
	key, _ := newKeys(t)
	srv := newJWKSServer(t)
	srv.setStatus(http.StatusServiceUnavailable)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	// The provider is down at start: New still succeeds, tokens fail.
	a, err := New(ctx, Config{JWKSURL: srv.URL, JWKSRefreshInterval: 20 * time.Millisecond}, nil)
	require.NoError(t, err)
	token := "Bearer " + sign(t, jwt.SigningMethodRS256, key, "k1", claims(nil))
	_, err = a.Authenticate(t.Context(), token)
	require.ErrorIs(t, err, ErrUnauthenticated)

	// Once it is back, the background refresh picks the key up.
	srv.add(t, "k1", jwkset.AlgRS256, &key.PublicKey)
	srv.setStatus(http.StatusOK)
	require.Eventually(t, func() bool {
		_, err := a.Authenticate(t.Context(), token)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)

	// Ending New's context stops the refresh goroutine.
	cancel()
	time.Sleep(100 * time.Millisecond) // let an in-flight refresh finish
	before := srv.fetches.Load()
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, before, srv.fetches.Load())
	// Cached keys still verify.
	_, err = a.Authenticate(t.Context(), token)
	require.NoError(t, err)
}

// TestCriticalHeaderIsRejected: a JWT whose header declares critical
// extensions ("crit", RFC 7515 §4.1.11) is refused on both the HS256 and
// the JWKS path, while the same token without it is accepted.
func TestCriticalHeaderIsRejected(t *testing.T) {
	t.Parallel()
	rsaKey, _ := newKeys(t)
	srv := newJWKSServer(t)
	srv.add(t, "rsa1", jwkset.AlgRS256, &rsaKey.PublicKey)
	a, err := New(t.Context(), Config{JWKSURL: srv.URL, JWTHS256Secret: hsSecret}, nil)
	require.NoError(t, err)
	signWith := func(method jwt.SigningMethod, key any, kid string, header map[string]any) string {
		tok := jwt.NewWithClaims(method, claims(nil))
		if kid != "" {
			tok.Header["kid"] = kid
		}
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(key)
		require.NoError(t, err)
		return s
	}
	for _, path := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"HS256", jwt.SigningMethodHS256, []byte(hsSecret), ""},
		{"RS256 from the JWKS", jwt.SigningMethodRS256, rsaKey, "rsa1"},
	} {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			_, err := a.Authenticate(t.Context(), "Bearer "+signWith(path.method, path.key, path.kid, map[string]any{"x-ext": "v"}))
			require.NoError(t, err, "without crit, the token is valid")
			for name, header := range map[string]map[string]any{
				"unknown extension":       {"crit": []string{"x-ext"}, "x-ext": "v"},
				"unencoded payload (b64)": {"crit": []string{"b64"}, "b64": true},
				"extension missing":       {"crit": []string{"x-ext"}},
				"empty list":              {"crit": []string{}},
				"not a list":              {"crit": "x-ext", "x-ext": "v"},
				"registered name listed":  {"crit": []string{"exp"}},
			} {
				_, err := a.Authenticate(t.Context(), "Bearer "+signWith(path.method, path.key, path.kid, header))
				require.ErrorIs(t, err, ErrUnauthenticated, name)
				require.Equal(t, DetailInvalidJWT, Detail(err), name)
				require.Contains(t, err.(*Error).Cause.Error(), "crit", name)
			}
		})
	}
}
