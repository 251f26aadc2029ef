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
	// ContentType is the HTTP Content-Type; empty when the caller used gRPC
	// directly, where the body is JSON by contract.
	ContentType string
	UserAgent   string
	RemoteAddr  string
}

// Result says what happened to a delivery.
type Result struct {
	ID        uuid.UUID
	Key       string
	Duplicate bool
}
