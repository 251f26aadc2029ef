package server

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// generatedOpenAPI is the spec protoc-gen-openapiv2 generates from the
// contracts and http.yaml.
//
//go:embed openapi/callbacks.swagger.json
var generatedOpenAPI []byte

// openAPISpec returns the REST API's OpenAPI (Swagger 2.0) document, with
// what the generator cannot know filled in: the webhook takes the raw JSON
// body and signature headers (not a base64 string), errors have callbackd's
// JSON shape, and admin routes need a bearer credential.
func openAPISpec() ([]byte, error) {
	var spec map[string]any
	if err := json.Unmarshal(generatedOpenAPI, &spec); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	spec["definitions"].(map[string]any)["Error"] = map[string]any{
		"type": "object",
		"properties": map[string]any{
			"code":    map[string]any{"type": "string", "description": "gRPC code name, e.g. unauthenticated"},
			"reason":  map[string]any{"type": "string", "description": "machine reason, see docs/errors.md"},
			"message": map[string]any{"type": "string"},
		},
	}
	spec["securityDefinitions"] = map[string]any{
		"bearer": map[string]any{"type": "apiKey", "in": "header", "name": "Authorization", "description": "Bearer <admin token or JWT>"},
	}
	for path, item := range spec["paths"].(map[string]any) {
		for _, op := range item.(map[string]any) {
			op := op.(map[string]any)
			op["responses"].(map[string]any)["default"] = map[string]any{
				"description": "An error; the status and reason are listed in docs/errors.md.",
				"schema":      map[string]any{"$ref": "#/definitions/Error"},
			}
			if strings.HasPrefix(path, "/api/admin/") {
				op["security"] = []any{map[string]any{"bearer": []any{}}}
			}
		}
	}
	// The REST watch is NDJSON whose last line may be an error with the
	// REST error body (see restWatch).
	watch, ok := spec["paths"].(map[string]any)[restWatchPath].(map[string]any)["get"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi: no watch route")
	}
	watch["produces"] = []any{"application/x-ndjson"}
	line, ok := watch["responses"].(map[string]any)["200"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi: the watch route has no stream schema")
	}
	line["error"] = map[string]any{"$ref": "#/definitions/Error"}
	ingest, ok := spec["paths"].(map[string]any)["/api/webhooks/llm-callback"].(map[string]any)["post"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi: no webhook route")
	}
	ingest["consumes"] = []any{"application/json"}
	ingest["parameters"] = []any{
		map[string]any{"name": "body", "in": "body", "required": true, "description": "The callback exactly as signed (compact JSON).", "schema": map[string]any{"type": "object"}},
		map[string]any{"name": "X-Webhook-Signature", "in": "header", "type": "string", "description": "sha256=<hex HMAC-SHA256(secret, body)>"},
		map[string]any{"name": "X-Webhook-Event", "in": "header", "type": "string", "description": "Must equal the body's event when present."},
	}
	return json.MarshalIndent(spec, "", "  ")
}

// serveOpenAPI serves the spec at /openapi.json.
func serveOpenAPI(spec []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(spec)
	}
}
