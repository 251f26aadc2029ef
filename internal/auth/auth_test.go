package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/apierror"
)

const (
	opsSecret = "ops-token-0123456789abcdef"
	ciSecret  = "ci-token-0123456789abcdef"
)

var ciID = uuid.MustParse("0b5e9f0e-2f6c-4c39-9a7e-3f3d1f7d2a11")

func newTokenAuth(t *testing.T) *Authenticator {
	t.Helper()
	a, err := New(t.Context(), Config{Tokens: []Token{
		{Name: "ops", Secret: opsSecret},
		{Name: "ci", Secret: ciSecret, ID: ciID},
	}}, nil)
	require.NoError(t, err)
	return a
}

func TestStaticTokens(t *testing.T) {
	t.Parallel()
	a := newTokenAuth(t)
	ops := Identity{ID: DeriveID("ops"), Name: "ops", Admin: true, Source: SourceToken}
	ci := Identity{ID: ciID, Name: "ci", Admin: true, Source: SourceToken}

	tests := []struct {
		name   string
		header string
		want   Identity
		reason string // "" means success
	}{
		{"first token", "Bearer " + opsSecret, ops, ""},
		{"second token with explicit id", "Bearer " + ciSecret, ci, ""},
		{"lowercase scheme", "bearer " + opsSecret, ops, ""},
		{"uppercase scheme and extra spaces", "  BEARER   " + opsSecret + "  ", ops, ""},
		{"tab separator", "Bearer\t" + ciSecret, ci, ""},
		{"empty header", "", Identity{}, DetailMissingCredential},
		{"blank header", "   ", Identity{}, DetailMissingCredential},
		{"scheme only", "Bearer", Identity{}, DetailMissingCredential},
		{"basic scheme", "Basic " + opsSecret, Identity{}, DetailBadScheme},
		{"no scheme", opsSecret, Identity{}, DetailBadScheme},
		{"token with space", "Bearer " + opsSecret + " x", Identity{}, DetailBadScheme},
		{"unknown token", "Bearer some-other-token-0123456789", Identity{}, DetailUnknownToken},
		{"prefix of a token", "Bearer " + opsSecret[:len(opsSecret)-1], Identity{}, DetailUnknownToken},
		{"token plus suffix", "Bearer " + opsSecret + "x", Identity{}, DetailUnknownToken},
		{"token case changed", "Bearer " + strings.ToUpper(opsSecret), Identity{}, DetailUnknownToken},
		{"jwt-shaped with jwt off", "Bearer a.b.c", Identity{}, DetailUnknownToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := a.Authenticate(t.Context(), tt.header)
			if tt.reason == "" {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			require.ErrorIs(t, err, ErrUnauthenticated)
			require.NotErrorIs(t, err, ErrPermissionDenied)
			require.Equal(t, tt.reason, Detail(err))
			require.Equal(t, Identity{}, got)
		})
	}
}

func TestDeriveIDIsStable(t *testing.T) {
	t.Parallel()
	// A fixed value (Python: uuid.uuid5(IdentityNamespace, "ops")): changing IdentityNamespace would silently give every
	// admin configured without an ID a new identity.
	require.Equal(t, "50484a1a-1577-5033-9f67-1119c7155380", DeriveID("ops").String())
	require.Equal(t, DeriveID("ops"), DeriveID("ops"))
	require.NotEqual(t, DeriveID("ops"), DeriveID("ci"))
	require.Equal(t, uuid.Version(5), DeriveID("ops").Version())
	require.Equal(t, DeriveID("x"), Token{Name: "x"}.identity().ID)
	require.Equal(t, ciID, Token{Name: "x", ID: ciID}.identity().ID)
}

func TestTokenStringHidesSecret(t *testing.T) {
	t.Parallel()
	tok := Token{Name: "ops", Secret: opsSecret}
	for _, s := range []string{tok.String(), tok.GoString()} {
		require.Contains(t, s, "ops")
		require.NotContains(t, s, opsSecret)
	}
}

func TestNewReportsAllProblems(t *testing.T) {
	t.Parallel()
	_, err := New(t.Context(), Config{
		Tokens: []Token{
			{Name: "ops", Secret: opsSecret},
			{Name: "ops", Secret: ciSecret},
			{Name: "short", Secret: "tiny"},
			{Name: "empty"},
			{Name: "", Secret: "nameless-0123456789abcdef"},
			{Name: "copy", Secret: opsSecret},
			{Name: "spaced", Secret: "has space 0123456789abcdef"},
		},
		JWTHS256Secret: "too-short",
		JWKSURL:        "ftp://example.com/jwks.json",
		AdminClaim:     "role",
	}, nil)
	require.Error(t, err)
	for _, want := range []string{
		`admin token 2 ("ops"): duplicate name`,
		`admin token 3 ("short"): token is 4 bytes, want at least 16`,
		`admin token 4 ("empty"): empty token`,
		`admin token 5: empty name`,
		`admin token 6 ("copy"): same token as "ops"`,
		`admin token 7 ("spaced"): token contains whitespace`,
		`JWT HS256 secret is 9 bytes, want at least 32`,
		`JWKS URL "ftp://example.com/jwks.json": scheme must be http or https`,
		`JWT admin claim: "role": want path=value`,
	} {
		require.ErrorContains(t, err, want)
	}
	// Secrets never appear in configuration errors.
	for _, secret := range []string{opsSecret, ciSecret, "tiny", "too-short"} {
		require.NotContains(t, err.Error(), secret)
	}
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	tokens := []Token{{Name: "ops", Secret: opsSecret}}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"tokens only", Config{Tokens: tokens}, nil},
		{"hs256 only", Config{JWTHS256Secret: hsSecret}, nil},
		{"hs256 with issuer, audience and rule", Config{JWTHS256Secret: hsSecret, Issuer: "i", Audience: "a", AdminClaim: "app_metadata.role=ADMIN"}, nil},
		{"nothing", Config{}, []string{"no admin credential configured"}},
		{"issuer and audience without jwt", Config{Tokens: tokens, Issuer: "https://idp", Audience: "callbackd"}, []string{
			"JWT issuer is set but neither",
			"JWT audience is set but neither",
		}},
		{"jwks url without host", Config{JWKSURL: "https:///jwks"}, []string{"no host"}},
		{"jwks url unparsable", Config{JWKSURL: "http://[::1"}, []string{"JWKS URL:"}},
		{"jwks url relative", Config{JWKSURL: "/jwks.json"}, []string{"scheme must be http or https"}},
		{"negative refresh", Config{Tokens: tokens, JWKSRefreshInterval: -1}, []string{"JWKS refresh interval -1ns is negative"}},
		{"empty claim path", Config{Tokens: tokens, AdminClaim: "=admin"}, []string{"empty claim path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := New(t.Context(), tt.cfg, slog.New(slog.DiscardHandler))
			if tt.want == nil {
				require.NoError(t, err)
				require.NotNil(t, a)
				return
			}
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			require.Nil(t, a)
		})
	}
}

// TestValidateNeedsNoCredential: Validate checks what is given without
// requiring a credential (a server that will generate a token checks the
// rest first), and fetches nothing.
func TestValidateNeedsNoCredential(t *testing.T) {
	t.Parallel()
	require.NoError(t, Config{}.Validate())
	require.NoError(t, Config{JWKSURL: "https://idp.invalid/jwks.json"}.Validate())
	err := Config{Issuer: "https://idp", AdminClaim: "role", Tokens: []Token{{Name: "ops", Secret: "short"}}}.Validate()
	for _, want := range []string{"JWT issuer is set but neither", `JWT admin claim: "role"`, "token is 5 bytes"} {
		require.ErrorContains(t, err, want)
	}
	require.NotContains(t, err.Error(), "no admin credential")
}

func TestErrorIsGenericForClients(t *testing.T) {
	t.Parallel()
	cause := errors.New("token signature is invalid: crypto/rsa: verification error")
	err := error(&Error{Kind: ErrUnauthenticated, Detail: DetailInvalidJWT, Cause: cause})
	require.Equal(t, "unauthenticated: invalid credential", err.Error())
	require.ErrorIs(t, err, ErrUnauthenticated)
	require.ErrorIs(t, err, cause)
	require.Equal(t, DetailInvalidJWT, Detail(err))
	require.Equal(t, apierror.Unauthenticated, apierror.Of(err), "clients learn only that it failed")

	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("auth", "err", err)
	require.Contains(t, logged.String(), "err.reason=invalid_jwt")
	require.Contains(t, logged.String(), "verification error")

	denied := &Error{Kind: ErrPermissionDenied, Detail: DetailNotAdmin, Cause: errors.New("claim role does not hold \"admin\"")}
	require.Equal(t, "permission denied: admin role required", denied.Error())
	require.Equal(t, apierror.PermissionDenied, apierror.Of(fmt.Errorf("wrapped: %w", denied)))

	require.Equal(t, "", Detail(nil))
	require.Equal(t, "internal", Detail(context.Canceled))
	require.Equal(t, DetailExpired, Detail(errors.Join(errors.New("wrapped"), &Error{Kind: ErrUnauthenticated, Detail: DetailExpired})))
}
