package web

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// ContentSecurityPolicy is sent with every response of the UI. Nothing runs
// or styles the page but files from this origin: the build has no inline
// script or style (see vite.config.ts), and the app calls only this origin.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

// immutable is the Cache-Control of hashed assets: their names change with
// their content, so browsers may keep them forever.
const immutable = "public, max-age=31536000, immutable"

// Handler serves the UI: files of the build, and index.html for in-app
// paths (the SPA fallback) when a browser asks for a page.
type Handler struct {
	files fs.FS
	index []byte
}

// NewHandler serves the embedded build. It fails when the build has no
// index.html, so that a server never starts without its UI.
func NewHandler() (*Handler, error) {
	return NewHandlerFS(Dist())
}

// NewHandlerFS serves the build in files (rooted at the build directory).
func NewHandlerFS(files fs.FS) (*Handler, error) {
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, fmt.Errorf("web UI: the build has no index.html (run npm run build in web/): %w", err)
	}
	return &Handler{files: files, index: index}, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// The UI has nothing to post to; whatever was meant, it is not here.
		http.NotFound(w, r)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" || name == "index.html" {
		h.serveIndex(w, r)
		return
	}
	if b, err := fs.ReadFile(h.files, name); err == nil {
		if strings.HasPrefix(name, "assets/") {
			hdr.Set("Cache-Control", immutable)
		} else {
			hdr.Set("Cache-Control", "no-cache")
		}
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			hdr.Set("Content-Type", ct)
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
		return
	} else if !errors.Is(err, fs.ErrNotExist) && !isDirError(h.files, name) {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	// An unknown path is an in-app route (/jobs/...) only for a browser
	// asking for a page; scripts, images and API clients get a real 404, so
	// that a missing asset never turns into HTML.
	if acceptsHTML(r) && !strings.HasPrefix(name, "assets/") {
		h.serveIndex(w, r)
		return
	}
	http.NotFound(w, r)
}

// serveIndex sends index.html, which browsers must revalidate: it names the
// current hashed assets.
func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(h.index))
}

// isDirError reports whether name is a directory (ReadFile fails on it).
func isDirError(files fs.FS, name string) bool {
	st, err := fs.Stat(files, name)
	return err == nil && st.IsDir()
}

// acceptsHTML reports whether the request's Accept header lists text/html.
func acceptsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
			return true
		}
	}
	return false
}
