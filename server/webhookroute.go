package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/internal/ingest"
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

// webhookHandler serves POST /api/webhooks/llm-callback, the route the LLM
// service posts to, as a plain HTTP handler: it reads the body within the
// limit, checks the content type, hands the delivery to the ingester and
// writes the answer. The route is described in the OpenAPI document (from
// the CallbackIngestService rule in http.yaml) like the gateway's, but is
// not served by the gateway: a signature covers the body's exact bytes,
// which a gateway would decode into a message, and the busiest route needs
// no admin interceptor, streaming or gRPC hop.
type webhookHandler struct {
	// limit is the body limit (--max-body-bytes).
	limit int64
	// trusted are the proxies whose X-Forwarded-For names the sender.
	trusted  []netip.Prefix
	ingester Ingester
	log      *slog.Logger
}

// ServeHTTP answers one delivery. A body larger than the limit is refused
// with 413 as soon as that is known: at once when Content-Length says so,
// otherwise when the limit+1st byte arrives (chunked bodies, or a
// Content-Length that lies). It never keeps more than limit bytes: the rest
// is discarded in a bounded lingering close (see lingerBytes). A body with a
// Content-Encoding other than identity is refused the same way, unread.
// Refusals made here are recorded by the ingester like its own.
func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req := ingest.Request{
		Header:     forwarded(r.Header.Values),
		UserAgent:  r.Header.Get("User-Agent"),
		RemoteAddr: clientAddr(r.RemoteAddr, r.Header, h.trusted),
		RequestID:  requestIDFrom(ctx),
	}
	if !identityEncoding(r.Header) {
		h.ingester.Reject(ctx, req, max(r.ContentLength, 0), ingest.ErrUnsupportedContentEncoding)
		refuseUnread(w, r, ingest.ErrUnsupportedContentEncoding)
		return
	}
	if r.ContentLength > h.limit {
		h.ingester.Reject(ctx, req, r.ContentLength, ingest.ErrBodyTooLarge)
		refuseUnread(w, r, ingest.ErrBodyTooLarge)
		return
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, h.limit), r.ContentLength)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.ingester.Reject(ctx, req, int64(len(body))+1, ingest.ErrBodyTooLarge)
			refuseUnread(w, r, ingest.ErrBodyTooLarge)
			return
		}
		err = fmt.Errorf("%w: %v", ingest.ErrBodyUnreadable, err)
		h.ingester.Reject(ctx, req, int64(len(body)), err)
		writeError(w, err)
		return
	}
	req.Body = body
	// gRPC and Connect callers carry the body in a bytes field that is JSON
	// by contract; only here does a Content-Type say what it is.
	if !isJSON(r.Header.Get("Content-Type")) {
		h.ingester.Reject(ctx, req, int64(len(body)), ingest.ErrUnsupportedMediaType)
		writeError(w, ingest.ErrUnsupportedMediaType)
		return
	}
	res, err := h.ingest(ctx, req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeAnswer(w, webhookAnswer{ID: res.ID.String(), CallbackID: res.Key, Duplicate: res.Duplicate})
}

// ingest calls the ingester, and turns its panic into an internal error (and
// a log line with the stack) rather than a dropped connection, as the
// interceptor of the RPC handlers does.
func (h *webhookHandler) ingest(ctx context.Context, req ingest.Request) (_ ingest.Result, err error) {
	defer recoverHandler(ctx, h.log, webhookPath, &err)
	return h.ingester.Ingest(ctx, req)
}

// webhookPath is the webhook route, as http.yaml maps IngestCallback.
const webhookPath = "/api/webhooks/llm-callback"

// webhookAnswer is the JSON body of an accepted delivery: the fields of
// IngestCallbackResponse under their proto names, as the OpenAPI document
// describes it.
type webhookAnswer struct {
	ID         string `json:"id"`
	CallbackID string `json:"callback_id"`
	Duplicate  bool   `json:"duplicate"`
}

// writeAnswer writes the 200 answer to an accepted delivery, with a
// Content-Length.
func writeAnswer(w http.ResponseWriter, a webhookAnswer) {
	b, _ := json.Marshal(a) // strings and a bool: it cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// isJSON reports whether a Content-Type names JSON: application/json or a
// +json type, with any parameters.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
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
