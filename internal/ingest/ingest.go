// Package ingest turns one HTTP-style delivery into a stored callback:
// limits, content type, signature over the raw bytes, payload checks, a
// durable upsert (batched with concurrent deliveries: group commit), then a
// notification. It is transport-free: the server adapts gRPC, Connect and
// REST requests to Request.
package ingest

import (
	"net/http"

	"github.com/google/uuid"
)

// Request is one delivery as received. The transport has checked what only
// it can see: the body's size on the wire, its encoding and, for plain HTTP,
// that its Content-Type says JSON.
type Request struct {
	Body []byte
	// Header holds the delivery's headers (signature headers, X-Webhook-Event).
	Header http.Header
	// UserAgent and RemoteAddr describe the sender, for the stored row,
	// logs and the failure limit.
	UserAgent  string
	RemoteAddr string
	// RequestID ties the delivery's log lines to the request's.
	RequestID string
}

// Result says what happened to a delivery.
type Result struct {
	ID        uuid.UUID
	Key       string
	Duplicate bool
}
