package ingest

import (
	"sync"
	"time"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/callback"
)

// maxRejections bounds the in-memory list of recent rejections.
const maxRejections = 100

// Bounds of the strings a Rejection holds (and the "delivery rejected" log
// line repeats). They come from senders nobody has authenticated, so each is
// cut to what helps an admin find the cause (the reason is one of the
// table's): a message a sentence (an internal error may embed a whole job_id),
// an address "[ipv6]:port", a user agent a product name and version.
const (
	maxMessageBytes     = 256
	maxRemoteAddrBytes  = 64
	maxEventHeaderBytes = 64
	maxUserAgentBytes   = 128
	maxRequestIDBytes   = 64
	maxHeaderNameBytes  = 64
)

// ellipsis ends a string that bounded cut short.
const ellipsis = "…"

// Rejection records one refused delivery for admins: never the body or a
// signature, only what helps find the cause. Every string is valid UTF-8
// and bounded in size, whatever the sender sent, so that the list can always
// be marshalled into a protobuf message and logged.
type Rejection struct {
	At               time.Time
	Reason           string
	Message          string
	RemoteAddr       string
	BodyBytes        int
	EventHeader      string
	UserAgent        string
	SignatureHeaders []string // names of the signature headers present
	RequestID        string
}

// newRejection describes a delivery refused with err, sanitising every
// string that came from the request or the error.
func newRejection(at time.Time, req Request, bodyBytes int64, err error) Rejection {
	names := signatureHeadersPresent(req.Header)
	for i, n := range names {
		names[i] = bounded(n, maxHeaderNameBytes)
	}
	return Rejection{
		At:               at,
		Reason:           string(apierror.Of(err)),
		Message:          bounded(err.Error(), maxMessageBytes),
		RemoteAddr:       bounded(req.RemoteAddr, maxRemoteAddrBytes),
		BodyBytes:        int(bodyBytes),
		EventHeader:      bounded(req.Header.Get("X-Webhook-Event"), maxEventHeaderBytes),
		UserAgent:        bounded(req.UserAgent, maxUserAgentBytes),
		SignatureHeaders: names,
		RequestID:        bounded(req.RequestID, maxRequestIDBytes),
	}
}

// bounded returns s through the column rule (callback.StorableText: invalid
// UTF-8 and U+0000 become U+FFFD) in at most limit bytes: a longer string is
// cut at a rune boundary and ends with an ellipsis, which says it was cut.
// It looks at no more than limit bytes of s, so a huge input costs no more
// than a small one. limit must exceed len(ellipsis).
func bounded(s string, limit int) string {
	cut := len(s) > limit
	s = callback.StorableText(s[:min(len(s), limit)], 0)
	if !cut && len(s) <= limit {
		return s
	}
	return callback.StorableText(s, limit-len(ellipsis)) + ellipsis
}

// rejectionLog is a ring of the most recent rejections.
type rejectionLog struct {
	mu   sync.Mutex
	ring [maxRejections]Rejection
	next int // index of the next write
	n    int // entries filled
}

func (l *rejectionLog) add(r Rejection) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = r
	l.next = (l.next + 1) % maxRejections
	l.n = min(l.n+1, maxRejections)
}

// list returns the rejections, newest first.
func (l *rejectionLog) list() []Rejection {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Rejection, 0, l.n)
	for i := 1; i <= l.n; i++ {
		out = append(out, l.ring[(l.next-i+maxRejections)%maxRejections])
	}
	return out
}
