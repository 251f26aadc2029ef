package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"

	"github.com/callbackd/callbackd/ingest"
)

// webhookRequestKey holds, in the context of a webhook request, what
// gatewayIngester needs of the HTTP request besides its body.
type webhookRequestKey struct{}

// webhookRequest is the HTTP side of one webhook delivery.
type webhookRequest struct {
	header     http.Header
	remoteAddr string // the sender, behind trusted proxies too
}

// limitBody reads a webhook body before the gateway sees it, and refuses it
// with 413 as soon as it exceeds limit: at once when Content-Length says so,
// otherwise when the limit+1st byte arrives (chunked bodies, or a
// Content-Length that lies). It never reads past the limit: the connection
// is closed rather than drained. It also records the request's headers and
// sender (see trusted) for gatewayIngester.
func limitBody(limit int64, trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			refuseTooLarge(w)
			return
		}
		body, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				refuseTooLarge(w)
				return
			}
			writeError(w, invalidArgument("body_unreadable", "could not read the request body: "+err.Error()))
			return
		}
		hr := webhookRequest{header: r.Header, remoteAddr: clientAddr(r, trusted)}
		r = r.WithContext(context.WithValue(r.Context(), webhookRequestKey{}, hr))
		r.Body = readBody{bytes.NewReader(body), body}
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// readAll reads r whole, into one allocation when size (a Content-Length
// already checked against the limit) announces it; -1 means unknown. A
// Content-Length that lies only costs reallocations.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead)) // ReadFrom wants MinRead spare bytes
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// readBody is a request body that limitBody has read into memory. The
// gateway's decoder takes its bytes as they are instead of copying them.
type readBody struct {
	*bytes.Reader
	bytes []byte
}

// Close does nothing: the body is in memory.
func (readBody) Close() error { return nil }

// refuseTooLarge answers 413 and drops the connection. net/http would
// otherwise read up to 256 KiB of the unread body, before answering or after,
// to reuse the connection; a sender that lies about its body would hold it.
// On HTTP/2 the stream is reset instead, which costs nothing.
func refuseTooLarge(w http.ResponseWriter) {
	// Connection: close makes net/http answer without draining first.
	w.Header().Set("Connection", "close")
	writeError(w, ingest.ErrBodyTooLarge)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if conn, _, err := rc.Hijack(); err == nil {
		_ = conn.Close()
	}
}
