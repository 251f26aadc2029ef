package redact

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"postgres://callbackd:s3cret-pw@db.internal:5432/cb?sslmode=verify-full", "postgres://callbackd:xxxxx@db.internal:5432/cb?sslmode=verify-full"},
		{"postgresql://callbackd@db:5432/cb?sslmode=disable&password=q-s3cret&application_name=x", "postgresql://callbackd@db:5432/cb?sslmode=disable&password=xxxxx&application_name=x"},
		{"postgres://u@db/cb?PassWord=a%26b&sslpassword=k3y-pass&connect_timeout=5", "postgres://u@db/cb?PassWord=xxxxx&sslpassword=xxxxx&connect_timeout=5"},
		{"postgres://db/cb?sslmode=disable", "postgres://db/cb?sslmode=disable"},
		{"https://idp.example/.well-known/jwks.json", "https://idp.example/.well-known/jwks.json"},
		{"https://jwksuser:jwks-pass@idp.example/jwks.json", "https://xxxxx:xxxxx@idp.example/jwks.json"},
		{"https://ghp_tokenasuser@idp.example/jwks.json", "https://xxxxx@idp.example/jwks.json"},
		{"https://idp.example/jwks?access_token=abc123&api_key=k&x-amz-signature=s&v=1", "https://idp.example/jwks?access_token=xxxxx&api_key=xxxxx&x-amz-signature=xxxxx&v=1"},
		{"http://127.0.0.1:8080/#token=admin-token-1234", "http://127.0.0.1:8080/#xxxxx"},
		{"sqlite:/var/lib/callbackd/cb.db", "sqlite:/var/lib/callbackd/cb.db"},
		{"postgres://u:p%40ss@h:bad/db", Unparsable},
		{"", ""},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestErrorMasksQuotedCredentials: the errors that libraries build around a
// URL (url.Parse's, net/http's, which masks only the password) lose every
// credential, and still wrap the original.
func TestErrorMasksQuotedCredentials(t *testing.T) {
	t.Parallel()
	parseErr := func(raw string) error {
		_, err := url.Parse(raw)
		return err
	}
	getErr := func(raw string) error {
		_, err := http.Get(raw) // a closed port: net/http's error quotes the URL
		return err
	}
	for _, tc := range []struct {
		raw     string
		cause   error
		secrets []string
	}{
		{"postgres://u:pw-SECRET@h:bad/db?password=q-SECRET", parseErr("postgres://u:pw-SECRET@h:bad/db?password=q-SECRET"), []string{"pw-SECRET", "q-SECRET"}},
		{"postgres://u:we\"ird-SECRET@h:bad/db", parseErr("postgres://u:we\"ird-SECRET@h:bad/db"), []string{"ird-SECRET"}},
		{"http://user-SECRET:pw-SECRET@127.0.0.1:1/jwks?token=q-SECRET#frag-SECRET", getErr("http://user-SECRET:pw-SECRET@127.0.0.1:1/jwks?token=q-SECRET#frag-SECRET"),
			[]string{"user-SECRET", "q-SECRET", "frag-SECRET"}},
		{"postgres://u:pw%2FSECRET@h/db?password=q%20SECRET", errors.New("login with pw/SECRET or pw%2FSECRET, then q SECRET or q%20SECRET"),
			[]string{"pw/SECRET", "pw%2FSECRET", "q SECRET", "q%20SECRET"}},
	} {
		if tc.cause == nil {
			t.Fatalf("%q: no error to redact", tc.raw)
		}
		for _, s := range tc.secrets {
			if !strings.Contains(tc.cause.Error(), s) {
				t.Fatalf("%q: the cause %q does not hold %q: the case tests nothing", tc.raw, tc.cause, s)
			}
		}
		err := Error(fmt.Errorf("fetch: %w: %w", tc.cause, fs.ErrNotExist), tc.raw)
		for _, s := range tc.secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("Error(%q) = %q: still holds %q", tc.raw, err, s)
			}
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Error(%q) no longer wraps its cause", tc.raw)
		}
	}
	if Error(nil, "postgres://x") != nil {
		t.Error("Error(nil) is not nil")
	}
}
