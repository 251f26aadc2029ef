package server

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"

	"github.com/callbackd/callbackd/internal/webhook"
)

// generatedOpenAPI is the spec protoc-gen-openapiv2 generates from the
// contracts and http.yaml.
//
//go:embed openapi/callbacks.swagger.json
var generatedOpenAPI []byte

// openAPIDescription is the document's description: what the generator,
// which sees only the .proto files, cannot say.
const openAPIDescription = "callbackd receives the signed callbacks (webhooks) that an LLM job service sends, " +
	"verifies each over its raw bytes, keeps them, and serves them to admins. This document covers the REST " +
	"routes (the webhook and the admin API, also served over gRPC, Connect and gRPC-Web on the same port). " +
	"Every error answers with the Error body; docs/errors.md lists each status and reason."

// signatureHeaderDocs describes every header webhook.Verifier reads, by
// name. openAPISpec documents webhook.Headers() from it and fails on a
// header missing here, so that the document cannot fall behind the verifier.
var signatureHeaderDocs = map[string]string{
	webhook.HeaderLLMSignature:      "The LLM service's scheme: sha256=<lower-case hex HMAC-SHA256(secret, raw body)>.",
	webhook.HeaderStandardSignature: "Standard Webhooks: space-separated v1,<base64 HMAC-SHA256(key, id.timestamp.body)> entries (--standard-webhooks-secret).",
	webhook.HeaderStandardID:        "Standard Webhooks: the message id, signed with the body.",
	webhook.HeaderStandardTimestamp: "Standard Webhooks: unix seconds, signed with the body; outside --signature-tolerance the delivery is refused.",
	webhook.HeaderSvixSignature:     "Standard Webhooks under Svix's default header names: as webhook-signature. When both families are sent, webhook-* is tried first and either verifying is enough.",
	webhook.HeaderSvixID:            "Standard Webhooks under Svix's default header names: as webhook-id.",
	webhook.HeaderSvixTimestamp:     "Standard Webhooks under Svix's default header names: as webhook-timestamp.",
	webhook.HeaderGitHubSignature:   "GitHub: sha256=<hex HMAC-SHA256(secret, raw body)> (--github-secret).",
	webhook.HeaderStripeSignature:   "Stripe: t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)> (--stripe-secret).",
}

// callbackPayloadSchema is the sender's payload (SPEC: "Payloads by
// event"). Only event and job_id are required; any other field is kept as
// sent, so the object stays open.
var callbackPayloadSchema = map[string]any{
	"type":        "object",
	"description": "A callback exactly as the sender signed it: compact JSON with sorted keys. Fields beyond event and job_id depend on the event; unknown fields are kept as sent.",
	"required":    []any{"event", "job_id"},
	"properties": map[string]any{
		"event":         map[string]any{"type": "string", "description": "workflow.completed, workflow.failed, llm.step.completed, or any other event (stored as received).", "example": "workflow.completed"},
		"job_id":        map[string]any{"type": "string", "description": "The job's id (a UUID)."},
		"status":        map[string]any{"type": "string", "description": "completed or failed (workflow events)."},
		"workflow_name": map[string]any{"type": "string"},
		"step_id":       map[string]any{"type": "string", "description": "llm.step.completed: the step; part of the callback's identity."},
		"result":        map[string]any{"description": "workflow.completed and llm.step.completed: the result."},
		"cost_data": map[string]any{"type": "object", "description": "workflow.completed.", "properties": map[string]any{
			"total_tokens": map[string]any{"type": "integer"},
			"cost_usd":     map[string]any{"type": "number"},
			"llm_calls":    map[string]any{"type": "array", "items": map[string]any{"type": "object"}},
		}},
		"error_message": map[string]any{"type": "string", "description": "workflow.failed."},
		"error": map[string]any{"type": "object", "description": "workflow.failed, optional.", "properties": map[string]any{
			"type":      map[string]any{"type": "string"},
			"category":  map[string]any{"type": "string"},
			"retryable": map[string]any{"type": "boolean"},
			"message":   map[string]any{"type": "string"},
		}},
		"tokens":      map[string]any{"type": "object", "description": "llm.step.completed."},
		"cost_usd":    map[string]any{"type": "number", "description": "llm.step.completed."},
		"duration_ms": map[string]any{"type": "number"},
		"created_at":  map[string]any{"type": "string"},
		"timestamp":   map[string]any{"type": "string", "description": "When the body was built, as the sender writes it (e.g. 2025-12-20T10:30:00.123456+00:00Z); kept as text."},
		"debug": map[string]any{"type": "object", "description": "llm.step.completed, optional.", "properties": map[string]any{
			"prompt":      map[string]any{"type": "string"},
			"model":       map[string]any{"type": "string"},
			"temperature": map[string]any{"type": "number"},
		}},
	},
}

// openAPISpec returns the REST API's OpenAPI (Swagger 2.0) document, with
// what the generator cannot know filled in: the product's title, version and
// description, the webhook's raw JSON body (the sender's payload, not a
// base64 string) and every signature header, errors with callbackd's JSON
// shape, and the bearer credential of admin routes.
func openAPISpec(version string) ([]byte, error) {
	var spec map[string]any
	if err := json.Unmarshal(generatedOpenAPI, &spec); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	spec["info"] = map[string]any{
		"title":       "callbackd",
		"version":     version,
		"description": openAPIDescription,
	}
	definitions := spec["definitions"].(map[string]any)
	definitions["Error"] = map[string]any{
		"type": "object",
		"properties": map[string]any{
			"code":    map[string]any{"type": "string", "description": "gRPC code name, e.g. unauthenticated"},
			"reason":  map[string]any{"type": "string", "description": "machine reason, see docs/errors.md"},
			"message": map[string]any{"type": "string"},
		},
	}
	definitions["CallbackPayload"] = callbackPayloadSchema
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
	ingest, ok := spec["paths"].(map[string]any)[webhookPath].(map[string]any)["post"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi: no webhook route")
	}
	ingest["consumes"] = []any{"application/json"}
	params := []any{
		map[string]any{"name": "body", "in": "body", "required": true, "description": "The callback exactly as signed (compact JSON); the signature covers these bytes.", "schema": map[string]any{"$ref": "#/definitions/CallbackPayload"}},
		map[string]any{"name": "X-Webhook-Event", "in": "header", "type": "string", "description": "Must equal the body's event when present."},
	}
	for _, name := range webhook.Headers() {
		doc, ok := signatureHeaderDocs[name]
		if !ok {
			return nil, fmt.Errorf("openapi: header %s that the verifier reads is not documented", name)
		}
		params = append(params, map[string]any{"name": name, "in": "header", "type": "string", "description": doc})
	}
	ingest["parameters"] = params
	ingest["description"] = "Receives one signed callback. At least one signature header of an enabled scheme is required " +
		"(X-Webhook-Signature always; the others when their secret is configured), unless --allow-unsigned is on."
	return json.MarshalIndent(spec, "", "  ")
}

// openAPIV3 converts the Swagger 2.0 document to OpenAPI 3, which most
// current client generators require.
func openAPIV3(v2 []byte) ([]byte, error) {
	var doc openapi2.T
	if err := json.Unmarshal(v2, &doc); err != nil {
		return nil, fmt.Errorf("openapi v3: read the 2.0 document: %w", err)
	}
	v3, err := openapi2conv.ToV3(&doc)
	if err != nil {
		return nil, fmt.Errorf("openapi v3: convert: %w", err)
	}
	out, err := json.MarshalIndent(v3, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi v3: %w", err)
	}
	return out, nil
}

// serveOpenAPI serves a document (/openapi.json, /openapi.v3.json).
func serveOpenAPI(spec []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(spec)
	}
}
