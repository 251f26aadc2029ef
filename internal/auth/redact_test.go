package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer that the JWKS refresh goroutine and the test
// may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestJWKSURLCredentialsAreRedacted: the credentials a JWKS URL carries
// (userinfo, a token in the query) reach neither the log, nor a
// configuration error, nor the cause of a rejected JWT, though the fetch
// errors that net/http builds quote the URL.
func TestJWKSURLCredentialsAreRedacted(t *testing.T) {
	t.Parallel()
	secrets := []string{"user-SECRET", "pw-SECRET", "q-SECRET"}
	noSecret := func(t *testing.T, text string) {
		t.Helper()
		for _, s := range secrets {
			require.NotContains(t, text, s)
		}
	}
	// A closed port: every fetch fails with an error that quotes the URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	jwksURL := "http://user-SECRET:pw-SECRET@" + closed + "/jwks?token=q-SECRET"

	var logs syncBuffer
	a, err := New(t.Context(), Config{JWKSURL: jwksURL}, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.Contains(t, logs.String(), "fetch JWKS", "the failed first fetch is logged")
	require.Contains(t, logs.String(), "jwks_url=")
	noSecret(t, logs.String())

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, err = a.Authenticate(t.Context(), "Bearer "+sign(t, jwt.SigningMethodRS256, key, "unknown-kid", claims(nil)))
	require.ErrorIs(t, err, ErrUnauthenticated)
	cause := err.(*Error).Cause.Error()
	require.Contains(t, cause, "JWKS key")
	noSecret(t, cause)
	noSecret(t, logs.String())

	for _, bad := range []string{
		"https://user-SECRET:pw-SECRET@idp.example:bad/jwks?token=q-SECRET",
		"ftp://user-SECRET:pw-SECRET@idp.example/jwks?token=q-SECRET",
		"https:///jwks?token=q-SECRET",
	} {
		_, err := New(t.Context(), Config{JWKSURL: bad}, nil)
		require.Error(t, err, bad)
		require.True(t, strings.Contains(err.Error(), "JWKS URL"), err)
		noSecret(t, err.Error())
	}
}
