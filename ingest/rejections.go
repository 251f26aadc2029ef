package ingest

import (
	"sync"
	"time"
)

// maxRejections bounds the in-memory list of recent rejections.
const maxRejections = 100

// Rejection records one refused delivery for admins: never the body or a
// signature, only what helps find the cause.
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
