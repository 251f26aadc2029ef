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

// Request is one delivery as received.
type Request struct {
	Body []byte
	// Header holds the delivery's headers (signature headers, X-Webhook-Event).
	Header http.Header
	// ContentType is the HTTP Content-Type.
	ContentType string
	// HTTP is set for plain HTTP deliveries (the REST route), whose
	// Content-Type must say JSON. gRPC and Connect callers carry the body in
	// a bytes field that is JSON by contract, so theirs is not checked.
	HTTP       bool
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
