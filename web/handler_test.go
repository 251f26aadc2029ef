package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":           {Data: []byte("<!doctype html><title>callbackd</title>")},
		"assets/index-abc.js":  {Data: []byte("console.log(1)")},
		"assets/index-abc.css": {Data: []byte("body{}")},
		"robots.txt":           {Data: []byte("User-agent: *")},
	}
}

func TestNewHandlerFailsWithoutIndex(t *testing.T) {
	t.Parallel()
	fsys := testFS()
	delete(fsys, "index.html")
	_, err := NewHandlerFS(fsys)
	require.ErrorContains(t, err, "index.html")
}

func TestEmbeddedBuildHasIndex(t *testing.T) {
	t.Parallel()
	h, err := NewHandler()
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `<div id="root">`)
	require.NotContains(t, rec.Body.String(), "<script>", "no inline script in the build")
	require.NotContains(t, rec.Body.String(), "<style", "no inline style in the build")
}

func TestHandler(t *testing.T) {
	t.Parallel()
	h, err := NewHandlerFS(testFS())
	require.NoError(t, err)
	const html = "text/html,application/xhtml+xml,*/*;q=0.8"
	tests := []struct {
		name, method, path, accept string
		status                     int
		body, contentType, cache   string
	}{
		{"root", "GET", "/", html, 200, "<title>callbackd", "text/html; charset=utf-8", "no-cache"},
		{"root for any client", "GET", "/", "*/*", 200, "<title>callbackd", "text/html; charset=utf-8", "no-cache"},
		{"index by name", "GET", "/index.html", "", 200, "<title>callbackd", "text/html; charset=utf-8", "no-cache"},
		{"head of root", "HEAD", "/", html, 200, "", "text/html; charset=utf-8", "no-cache"},
		{"hashed script", "GET", "/assets/index-abc.js", "*/*", 200, "console.log", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"hashed style", "GET", "/assets/index-abc.css", "text/css", 200, "body{}", "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"unhashed file", "GET", "/robots.txt", "", 200, "User-agent", "text/plain; charset=utf-8", "no-cache"},
		{"in-app route for a browser", "GET", "/jobs/123", html, 200, "<title>callbackd", "text/html; charset=utf-8", "no-cache"},
		{"a callback's own page", "GET", "/callbacks/0193a5b2-7c1d-7e2f-8a3b-4c5d6e7f8091", html, 200, "<title>callbackd", "text/html; charset=utf-8", "no-cache"},
		{"the rejected deliveries page", "GET", "/rejected", html, 200, "<title>callbackd", "text/html; charset=utf-8", "no-cache"},
		{"in-app route with query", "GET", "/?status=error", html, 200, "<title>callbackd", "text/html; charset=utf-8", "no-cache"},
		{"head of in-app route", "HEAD", "/jobs/123", "text/html", 200, "", "text/html; charset=utf-8", "no-cache"},
		{"unknown path for a script", "GET", "/jobs/123", "*/*", 404, "404 page not found", "", ""},
		{"unknown path without accept", "GET", "/nope", "", 404, "404 page not found", "", ""},
		{"json client", "GET", "/nope", "application/json", 404, "404 page not found", "", ""},
		{"missing asset even for a browser", "GET", "/assets/gone.js", html, 404, "404 page not found", "", ""},
		{"directory", "GET", "/assets", "*/*", 404, "404 page not found", "", ""},
		{"post", "POST", "/", html, 404, "404 page not found", "", ""},
		{"post to an in-app route", "POST", "/jobs/1", html, 404, "404 page not found", "", ""},
		{"path traversal", "GET", "/../embed.go", "*/*", 404, "404 page not found", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			require.Equal(t, tt.status, res.StatusCode)
			if tt.body != "" {
				require.True(t, strings.Contains(rec.Body.String(), tt.body), "body %q lacks %q", rec.Body.String(), tt.body)
			}
			if tt.method == http.MethodHead {
				require.Empty(t, rec.Body.String())
			}
			if tt.contentType != "" {
				require.Equal(t, tt.contentType, res.Header.Get("Content-Type"))
			}
			require.Equal(t, tt.cache, res.Header.Get("Cache-Control"))
			// Security headers on every response, errors included.
			require.Equal(t, ContentSecurityPolicy, res.Header.Get("Content-Security-Policy"))
			require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
			require.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
		})
	}
}

func TestContentSecurityPolicyIsStrict(t *testing.T) {
	t.Parallel()
	directives := map[string]string{}
	for _, d := range strings.Split(ContentSecurityPolicy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	require.Equal(t, map[string]string{
		"default-src":     "'self'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"img-src":         "'self' data:",
		"connect-src":     "'self'",
		"frame-ancestors": "'none'",
		"base-uri":        "'none'",
		"form-action":     "'self'",
		"object-src":      "'none'",
	}, directives)
	require.NotContains(t, ContentSecurityPolicy, "unsafe")
}
