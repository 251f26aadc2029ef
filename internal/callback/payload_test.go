package callback_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/callback"
)

// nested returns a payload whose object and array nesting is depth deep, the
// top-level object included.
func nested(depth int) string {
	return `{"event":"workflow.completed","job_id":"j","r":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
}

// A workflow.completed body exactly as the LLM service sends it.
const completedBody = `{"cost_data":{"cost_usd":0.0123,"llm_calls":[],"total_tokens":1234},"duration_ms":4567,"event":"workflow.completed","job_id":"3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f","result":{"score":7,"summary":"Done \ud83d\ude00"},"status":"completed","timestamp":"2025-12-20T10:30:00.123456+00:00Z","workflow_name":"r\u00e9sum\u00e9 <screening> & co/v2"}`

func TestParsePayload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		body   string
		header string
		limits callback.PayloadLimits
		want   callback.Delivery // Payload and PayloadPreview are filled from body
		err    error
	}{
		// Rejections.
		{name: "empty body", body: ``, err: callback.ErrEmptyBody},
		{name: "only whitespace", body: " \n", err: callback.ErrMalformedJSON},
		{name: "invalid UTF-8", body: "{\"event\":\"workflow.completed\",\"job_id\":\"j\xff\"}", err: callback.ErrInvalidUTF8},
		{name: "truncated", body: `{"event":"workflow.completed","job_id":`, err: callback.ErrMalformedJSON},
		{name: "syntax error", body: `{"event" "workflow.completed"}`, err: callback.ErrMalformedJSON},
		{name: "trailing garbage", body: `{"event":"workflow.completed","job_id":"j"}x`, err: callback.ErrMalformedJSON},
		{name: "two objects", body: `{"event":"workflow.completed","job_id":"j"} {}`, err: callback.ErrMalformedJSON},
		{name: "top-level array", body: `[{"event":"workflow.completed","job_id":"j"}]`, err: callback.ErrNotObject},
		{name: "top-level string", body: `"workflow.completed"`, err: callback.ErrNotObject},
		{name: "top-level null", body: `null`, err: callback.ErrNotObject},
		{name: "duplicate top-level key", body: `{"event":"workflow.completed","job_id":"a","job_id":"b"}`, err: callback.ErrDuplicateKey},
		{name: "duplicate nested key", body: `{"event":"workflow.completed","job_id":"j","result":{"items":[{"k":1},{"k":1,"v":{"x":1,"x":2}}]}}`, err: callback.ErrDuplicateKey},
		{name: "duplicate key through an escape", body: `{"event":"workflow.completed","job_id":"j","a":1,"\u0061":2}`, err: callback.ErrDuplicateKey},
		{name: "one level too deep", body: nested(callback.DefaultMaxDepth + 1), err: callback.ErrTooDeep},
		{name: "far too deep", body: nested(200), err: callback.ErrTooDeep},
		// encoding/json's syntax check stops at 10000 levels, before the walk.
		{name: "beyond encoding/json's nesting limit", body: nested(100000), err: callback.ErrMalformedJSON},
		{name: "deeper than a custom limit", body: `{"event":"workflow.completed","job_id":"j","r":{"a":{}}}`, limits: callback.PayloadLimits{MaxDepth: 2}, err: callback.ErrTooDeep},
		{name: "no event", body: `{"job_id":"j"}`, err: callback.ErrMissingEvent},
		{name: "empty event", body: `{"event":"","job_id":"j"}`, err: callback.ErrMissingEvent},
		{name: "numeric event", body: `{"event":1,"job_id":"j"}`, err: callback.ErrMissingEvent},
		{name: "object event", body: `{"event":{"name":"workflow.completed"},"job_id":"j"}`, err: callback.ErrMissingEvent},
		{name: "event only nested", body: `{"job_id":"j","result":{"event":"workflow.completed"}}`, err: callback.ErrMissingEvent},
		{name: "no job_id", body: `{"event":"workflow.completed"}`, err: callback.ErrMissingJobID},
		{name: "empty job_id", body: `{"event":"workflow.completed","job_id":""}`, err: callback.ErrMissingJobID},
		{name: "numeric job_id", body: `{"event":"workflow.completed","job_id":42}`, err: callback.ErrMissingJobID},
		{name: "null job_id", body: `{"event":"workflow.completed","job_id":null}`, err: callback.ErrMissingJobID},
		{name: "step without step_id", body: `{"event":"llm.step.completed","job_id":"j"}`, err: callback.ErrMissingStepID},
		{name: "step with numeric step_id", body: `{"event":"llm.step.completed","job_id":"j","step_id":3}`, err: callback.ErrMissingStepID},
		{name: "step with empty step_id", body: `{"event":"llm.step.completed","job_id":"j","step_id":""}`, err: callback.ErrMissingStepID},
		{name: "header differs from body", body: completedBody, header: "workflow.failed", err: callback.ErrEventMismatch},
		{name: "header differs in case", body: completedBody, header: "Workflow.Completed", err: callback.ErrEventMismatch},
		{name: "event too long", body: `{"event":"` + strings.Repeat("e", callback.MaxEventBytes+1) + `","job_id":"j"}`, err: callback.ErrEventTooLong},
		{name: "job_id too long", body: `{"event":"workflow.completed","job_id":"` + strings.Repeat("j", callback.MaxJobIDBytes+1) + `"}`, err: callback.ErrJobIDTooLong},
		{name: "job_id too long once decoded", body: `{"event":"workflow.completed","job_id":"` + strings.Repeat(`\u20ac`, callback.MaxJobIDBytes/3+1) + `"}`, err: callback.ErrJobIDTooLong},
		{name: "step_id too long in a step key", body: `{"event":"llm.step.completed","job_id":"j","step_id":"` + strings.Repeat("s", callback.MaxStepIDBytes+1) + `"}`, err: callback.ErrStepIDTooLong},
		{name: "step_id too long in an unknown event's key", body: `{"event":"llm.step.started","job_id":"j","step_id":"` + strings.Repeat("s", callback.MaxStepIDBytes+1) + `"}`, err: callback.ErrStepIDTooLong},

		// Acceptances.
		{name: "completed as the LLM service sends it", body: completedBody, header: "workflow.completed", want: callback.Delivery{
			Key: "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f:workflow.completed", EventType: "workflow.completed", KnownEvent: true,
			Status: callback.StatusProcessed, ExternalJobID: "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", WorkflowName: "résumé <screening> & co/v2",
			Facts: callback.Facts{TotalTokens: ptr[int64](1234), CostUSD: ptr(0.0123), DurationMS: ptr[int64](4567)},
		}},
		{name: "completed without header", body: completedBody, want: callback.Delivery{
			Key: "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f:workflow.completed", EventType: "workflow.completed", KnownEvent: true,
			Status: callback.StatusProcessed, ExternalJobID: "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", WorkflowName: "résumé <screening> & co/v2",
			Facts: callback.Facts{TotalTokens: ptr[int64](1234), CostUSD: ptr(0.0123), DurationMS: ptr[int64](4567)},
		}},
		{name: "completed, only required fields", body: `{"event":"workflow.completed","job_id":"j"}`, want: callback.Delivery{
			Key: "j:workflow.completed", EventType: "workflow.completed", KnownEvent: true, Status: callback.StatusProcessed, ExternalJobID: "j",
		}},
		{name: "completed with a step_id keeps the workflow key", body: `{"event":"workflow.completed","job_id":"j","step_id":"s"}`, want: callback.Delivery{
			Key: "j:workflow.completed", EventType: "workflow.completed", KnownEvent: true, Status: callback.StatusProcessed, ExternalJobID: "j", StepID: "s",
		}},
		{name: "failed with error_message", body: `{"error":{"category":"llm","message":"detail","retryable":true,"type":"Timeout"},"error_message":"LLM timed out","event":"workflow.failed","job_id":"j","status":"failed","workflow_name":"w"}`, header: "workflow.failed", want: callback.Delivery{
			Key: "j:workflow.failed", EventType: "workflow.failed", KnownEvent: true, Status: callback.StatusError, ExternalJobID: "j", WorkflowName: "w", ErrorMessage: "LLM timed out",
			Facts: callback.Facts{ErrorCategory: "llm"},
		}},
		{name: "failed falls back to error.message", body: `{"error":{"message":"detail","type":"Timeout"},"event":"workflow.failed","job_id":"j"}`, want: callback.Delivery{
			Key: "j:workflow.failed", EventType: "workflow.failed", KnownEvent: true, Status: callback.StatusError, ExternalJobID: "j", ErrorMessage: "detail",
		}},
		{name: "failed without any message", body: `{"error":"boom","event":"workflow.failed","job_id":"j","message":"top"}`, want: callback.Delivery{
			Key: "j:workflow.failed", EventType: "workflow.failed", KnownEvent: true, Status: callback.StatusError, ExternalJobID: "j",
		}},
		{name: "step", body: `{"cost_usd":0.001,"duration_ms":12,"event":"llm.step.completed","job_id":"j","result":{},"step_id":"summarise","timestamp":"2025-12-20T10:30:00.123456+00:00Z","tokens":{"input":1},"workflow_name":"w"}`, header: "llm.step.completed", want: callback.Delivery{
			Key: "j:llm.step.completed:summarise", EventType: "llm.step.completed", KnownEvent: true, Status: callback.StatusReceived, ExternalJobID: "j", WorkflowName: "w", StepID: "summarise",
			Facts: callback.Facts{CostUSD: ptr(0.001), DurationMS: ptr[int64](12)},
		}},
		{name: "unknown event", body: `{"event":"workflow.cancelled","job_id":"j"}`, want: callback.Delivery{
			Key: "j:workflow.cancelled", EventType: "workflow.cancelled", Status: callback.StatusReceived, ExternalJobID: "j",
		}},
		{name: "unknown event with step_id", body: `{"event":"llm.step.started","job_id":"j","step_id":"s"}`, header: "llm.step.started", want: callback.Delivery{
			Key: "j:llm.step.started:s", EventType: "llm.step.started", Status: callback.StatusReceived, ExternalJobID: "j", StepID: "s",
		}},
		{name: "optional fields of other types ignored", body: `{"error":{"message":7},"error_message":null,"event":"workflow.failed","job_id":"j","step_id":[],"workflow_name":{"name":"w"}}`, want: callback.Delivery{
			Key: "j:workflow.failed", EventType: "workflow.failed", KnownEvent: true, Status: callback.StatusError, ExternalJobID: "j",
		}},
		{name: "colons and percents escaped in the key", body: `{"event":"x:y","job_id":"a:b%3A","step_id":"s:1"}`, want: callback.Delivery{
			Key: "a%3Ab%253A:x%3Ay:s%3A1", EventType: "x:y", Status: callback.StatusReceived, ExternalJobID: "a:b%3A", StepID: "s:1",
		}},
		{name: "NUL escaped in the key, replaced in the columns", body: `{"error_message":"a\u0000b","event":"llm.step.completed","job_id":"j\u0000","step_id":"s\u0000%","workflow_name":"\u0000w"}`, want: callback.Delivery{
			Key: "j%00:llm.step.completed:s%00%25", EventType: "llm.step.completed", KnownEvent: true, Status: callback.StatusReceived,
			ExternalJobID: "j\uFFFD", StepID: "s\uFFFD%", WorkflowName: "\uFFFDw", ErrorMessage: "a\uFFFDb",
		}},
		{name: "lone surrogates decode to U+FFFD", body: `{"event":"workflow.failed","job_id":"j","error_message":"\ud800x\udfff"}`, want: callback.Delivery{
			Key: "j:workflow.failed", EventType: "workflow.failed", KnownEvent: true, Status: callback.StatusError, ExternalJobID: "j", ErrorMessage: "\uFFFDx\uFFFD",
		}},
		{name: "ids exactly at their limits", body: `{"event":"` + strings.Repeat(":", callback.MaxEventBytes) + `","job_id":"` + strings.Repeat("%", callback.MaxJobIDBytes) + `","step_id":"` + strings.Repeat(`\u0000`, callback.MaxStepIDBytes) + `"}`, want: callback.Delivery{
			Key:       strings.Repeat("%25", callback.MaxJobIDBytes) + ":" + strings.Repeat("%3A", callback.MaxEventBytes) + ":" + strings.Repeat("%00", callback.MaxStepIDBytes),
			EventType: strings.Repeat(":", callback.MaxEventBytes), Status: callback.StatusReceived, ExternalJobID: strings.Repeat("%", callback.MaxJobIDBytes),
			// Each NUL becomes a 3-byte U+FFFD, cut to the column's limit.
			StepID: strings.Repeat("\uFFFD", callback.MaxStepIDBytes/3),
		}},
		{name: "long workflow_name and error_message truncated at a rune boundary", body: `{"event":"workflow.failed","job_id":"j","workflow_name":"w` + strings.Repeat("€", callback.MaxWorkflowNameBytes) + `","error_message":"` + strings.Repeat("m", 3*callback.MaxErrorMessageBytes) + `"}`, want: callback.Delivery{
			Key: "j:workflow.failed", EventType: "workflow.failed", KnownEvent: true, Status: callback.StatusError, ExternalJobID: "j",
			WorkflowName: "w" + strings.Repeat("€", (callback.MaxWorkflowNameBytes-1)/3), ErrorMessage: strings.Repeat("m", callback.MaxErrorMessageBytes),
		}},
		{name: "nesting exactly at the limit", body: nested(callback.DefaultMaxDepth), want: callback.Delivery{
			Key: "j:workflow.completed", EventType: "workflow.completed", KnownEvent: true, Status: callback.StatusProcessed, ExternalJobID: "j",
		}},
		{name: "nesting at a custom limit", body: `{"event":"workflow.completed","job_id":"j","r":{"a":1},"s":[]}`, limits: callback.PayloadLimits{MaxDepth: 2}, want: callback.Delivery{
			Key: "j:workflow.completed", EventType: "workflow.completed", KnownEvent: true, Status: callback.StatusProcessed, ExternalJobID: "j",
		}},
		{name: "same key in sibling objects", body: `{"a":{"k":1},"b":{"k":1},"c":[{"k":1},{"k":2}],"event":"workflow.completed","job_id":"j"}`, want: callback.Delivery{
			Key: "j:workflow.completed", EventType: "workflow.completed", KnownEvent: true, Status: callback.StatusProcessed, ExternalJobID: "j",
		}},
		{name: "whitespace around the object, huge number", body: "\n {\"event\" : \"workflow.completed\", \"job_id\" : \"j\", \"n\": 1e999999}\r\n", want: callback.Delivery{
			Key: "j:workflow.completed", EventType: "workflow.completed", KnownEvent: true, Status: callback.StatusProcessed, ExternalJobID: "j",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := callback.ParsePayload([]byte(tc.body), tc.header, tc.limits)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				require.Equal(t, callback.Delivery{}, got)
				require.Equal(t, apierror.Of(tc.err), apierror.Of(err))
				require.Less(t, len(err.Error()), 300, "error messages stay short")
				return
			}
			require.NoError(t, err)
			want := tc.want
			want.Payload = []byte(tc.body)
			want.PayloadPreview = tc.body
			if utf8.RuneCountInString(tc.body) > callback.PreviewLength {
				want.PayloadPreview = string([]rune(tc.body)[:callback.PreviewLength])
			}
			// The search document is tested by TestSearchDocument; here
			// ParsePayload must agree with Analyze, which Save and the
			// backfill use for rows that did not come through it.
			want.SearchText = callback.Analyze(want).SearchText
			require.Equal(t, want, got)
		})
	}
}

// TestParsePayloadKeysDoNotCollide checks that ids containing ':' cannot make
// two logical callbacks share an idempotency key.
func ptr[T any](v T) *T { return &v }

func TestParsePayloadKeysDoNotCollide(t *testing.T) {
	t.Parallel()
	bodies := []string{
		`{"event":"c","job_id":"a:b"}`,
		`{"event":"b:c","job_id":"a"}`,
		`{"event":"b","job_id":"a","step_id":"c"}`,
		`{"event":"b:c","job_id":"a","step_id":"d"}`,
		`{"event":"b","job_id":"a","step_id":"c:d"}`,
		`{"event":"b%3Ac","job_id":"a"}`,
		`{"event":"llm.step.completed","job_id":"a:workflow.completed","step_id":"x"}`,
		`{"event":"workflow.completed","job_id":"a"}`,
		`{"event":"llm.step.completed","job_id":"a","step_id":"workflow.completed"}`,
	}
	seen := map[string]string{}
	for _, b := range bodies {
		d, err := callback.ParsePayload([]byte(b), "", callback.PayloadLimits{})
		require.NoError(t, err, b)
		require.NotContains(t, seen, d.Key, "%s and %s share a key", b, seen[d.Key])
		seen[d.Key] = b
	}
}

func TestParsePayloadPreview(t *testing.T) {
	t.Parallel()
	prefix := `{"event":"workflow.completed","job_id":"j","text":"`
	for _, filler := range []string{"a", "é", "€", "😀"} {
		// The 200th character is the first filler rune, then more follow.
		pad := strings.Repeat("x", callback.PreviewLength-1-utf8.RuneCountInString(prefix))
		body := prefix + pad + strings.Repeat(filler, 10) + `"}`
		d, err := callback.ParsePayload([]byte(body), "", callback.PayloadLimits{})
		require.NoError(t, err)
		require.True(t, utf8.ValidString(d.PayloadPreview))
		require.Equal(t, callback.PreviewLength, utf8.RuneCountInString(d.PayloadPreview))
		require.Equal(t, prefix+pad+filler, d.PayloadPreview)
		require.Equal(t, body, string(d.Payload))
	}
}

func TestParsePayloadErrorsAreTyped(t *testing.T) {
	t.Parallel()
	_, err := callback.ParsePayload([]byte(completedBody), "workflow.failed", callback.PayloadLimits{})
	require.ErrorIs(t, err, callback.ErrEventMismatch)
	require.Equal(t, apierror.EventMismatch, apierror.Of(err))
	require.Equal(t, `X-Webhook-Event header differs from the body's event: header "workflow.failed", body "workflow.completed"`, err.Error())
}

// BenchmarkParsePayload parses a typical 2 KB workflow.completed body.
func BenchmarkParsePayload(b *testing.B) {
	body := []byte(`{"cost_data":{"cost_usd":0.0123,"llm_calls":[` + strings.Repeat(`{"model":"gpt-4o-mini","tokens":{"input":512,"output":128},"cost_usd":0.001,"step":"summarise"},`, 14) +
		`{}],"total_tokens":1234},"duration_ms":4567,"event":"workflow.completed","job_id":"3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f","result":{"score":7,"summary":"Done \ud83d\ude00"},"status":"completed","timestamp":"2025-12-20T10:30:00.123456+00:00Z","workflow_name":"w"}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := callback.ParsePayload(body, "workflow.completed", callback.PayloadLimits{}); err != nil {
			b.Fatal(err)
		}
	}
}
