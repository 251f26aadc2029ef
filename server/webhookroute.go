package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/callbackd/callbackd/ingest"
)

// Bounds of the lingering close that follows a refusal of an unread body on
// HTTP/1.x. A sender such as Python's requests writes its whole body before
// it reads the answer; if the server closed the connection at once, the
// sender's next write would fail ("broken pipe", "connection reset") and it
// would never see the status. So the server answers, shuts down its sending
// side, and reads and discards the rest of the body until the sender is done,
// but no more than lingerBytes or lingerTime, whichever comes first: a
// Content-Length that lies or an endless chunked body costs at most that.
// lingerBytes covers bodies many times the default --max-body-bytes (more
// than any real callback), and discarding them costs a 32 KiB buffer and
// the bandwidth the sender spends anyway; lingerTime is shorter than the
// read timeout a slow body could hold a connection for in any case.
const (
	lingerBytes = 16 << 20
	lingerTime  = 5 * time.Second
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
// Content-Length that lies). It never keeps more than limit bytes: the rest
// is discarded in a bounded lingering close (see lingerBytes). A body with a
// Content-Encoding other than identity is refused the same way, unread.
// Refusals are recorded by ingester like every other rejection. It also
// records the request's headers and sender (see trusted) for
// gatewayIngester.
func limitBody(limit int64, trusted []netip.Prefix, ingester Ingester, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hr := webhookRequest{header: r.Header, remoteAddr: clientAddr(r.RemoteAddr, r.Header, trusted)}
		reject := func(bodyBytes int64, err error) {
			ingester.Reject(r.Context(), ingest.Request{
				Header:      forwarded(r.Header.Values),
				ContentType: r.Header.Get("Content-Type"),
				HTTP:        true,
				UserAgent:   r.Header.Get("User-Agent"),
				RemoteAddr:  hr.remoteAddr,
				RequestID:   requestIDFrom(r.Context()),
			}, bodyBytes, err)
		}
		if !identityEncoding(r.Header) {
			reject(max(r.ContentLength, 0), ingest.ErrUnsupportedContentEncoding)
			refuseUnread(w, r, ingest.ErrUnsupportedContentEncoding)
			return
		}
		if r.ContentLength > limit {
			reject(r.ContentLength, ingest.ErrBodyTooLarge)
			refuseUnread(w, r, ingest.ErrBodyTooLarge)
			return
		}
		body, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				reject(int64(len(body))+1, ingest.ErrBodyTooLarge)
				refuseUnread(w, r, ingest.ErrBodyTooLarge)
				return
			}
			err = fmt.Errorf("%w: %v", ingest.ErrBodyUnreadable, err)
			reject(int64(len(body)), err)
			writeError(w, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), webhookRequestKey{}, hr))
		r.Body = readBody{bytes.NewReader(body), body}
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// identityEncoding reports whether the body is sent as is: no
// Content-Encoding, or only "identity".
func identityEncoding(h http.Header) bool {
	for _, v := range h.Values("Content-Encoding") {
		for coding := range strings.SplitSeq(v, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return false
			}
		}
	}
	return true
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

// refuseUnread answers err to a request whose body is left unread, in a way
// the sender can read. On HTTP/1.x it then closes the connection with a
// bounded lingering close (see lingerBytes): net/http would otherwise either
// read up to 256 KiB of the body before answering, to reuse the connection,
// or close it while the sender is still writing. On HTTP/2 the stream is
// reset after the answer, which the sender reads first and costs nothing.
func refuseUnread(w http.ResponseWriter, r *http.Request, err error) {
	if r.ProtoMajor >= 2 {
		writeError(w, err)
		return
	}
	// Connection: close makes net/http answer without draining first.
	w.Header().Set("Connection", "close")
	writeError(w, err)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	conn, rw, herr := rc.Hijack()
	if herr != nil {
		return
	}
	defer conn.Close()
	linger(conn, rw.Reader)
}

// linger ends an answered connection: it shuts down the sending side (the
// sender reads the answer, then end of stream), then discards what the
// sender still writes, up to lingerBytes or lingerTime, so that its writes
// succeed until it reads. unread holds what the server had already buffered.
func linger(conn net.Conn, unread *bufio.Reader) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, unread, lingerBytes)
}
