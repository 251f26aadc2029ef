package callback_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/callbackd/callbackd/internal/callback"
)

// payloadErrors are every error ParsePayload refuses a payload with.
var payloadErrors = []error{
	callback.ErrEmptyBody, callback.ErrInvalidUTF8, callback.ErrMalformedJSON, callback.ErrNotObject,
	callback.ErrDuplicateKey, callback.ErrTooDeep, callback.ErrMissingEvent, callback.ErrMissingJobID,
	callback.ErrMissingStepID, callback.ErrEventMismatch, callback.ErrEventTooLong, callback.ErrJobIDTooLong,
	callback.ErrStepIDTooLong,
}

// FuzzParsePayload feeds arbitrary bodies and X-Webhook-Event headers to
// ParsePayload; the seed corpus is in testdata/fuzz/FuzzParsePayload.
// Properties: it never panics; it fails only with one of its Err* errors; it accepts
// only valid JSON, and then agrees with encoding/json on event and job_id
// (after the column rule), yields a storable key, keeps the body and previews
// a prefix of it, and every text field is storable (StorableText); and it
// agrees with a simple json.Decoder.Token walk on duplicate keys and depth.
func FuzzParsePayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, eventHeader string) {
		d, err := callback.ParsePayload(body, eventHeader, callback.PayloadLimits{})
		if err != nil {
			if !slices.ContainsFunc(payloadErrors, func(want error) bool { return errors.Is(err, want) }) {
				t.Fatalf("error %v is none of ParsePayload's", err)
			}
			if dup, depth, ok := referenceWalk(body); errors.Is(err, callback.ErrDuplicateKey) && !(ok && dup) ||
				errors.Is(err, callback.ErrTooDeep) && !(ok && depth > callback.DefaultMaxDepth) {
				t.Fatalf("%v, but the reference walk finds duplicate %v, depth %d", err, dup, depth)
			}
			return
		}
		if dup, depth, ok := referenceWalk(body); !ok || dup || depth > callback.DefaultMaxDepth {
			t.Fatalf("accepted, but the reference walk finds duplicate %v, depth %d", dup, depth)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("accepted %q that encoding/json rejects: %v", body, err)
		}
		event, _ := m["event"].(string)
		job, _ := m["job_id"].(string)
		if !callback.ValidKey(d.Key) || callback.StorableText(event, callback.MaxEventBytes) != d.EventType ||
			callback.StorableText(job, callback.MaxJobIDBytes) != d.ExternalJobID || !d.Status.Valid() {
			t.Fatalf("delivery %+v disagrees with %v", d, m)
		}
		if s := d.Storable(); s.EventType != d.EventType || s.ExternalJobID != d.ExternalJobID || s.WorkflowName != d.WorkflowName ||
			s.StepID != d.StepID || s.ErrorMessage != d.ErrorMessage || s.PayloadPreview != d.PayloadPreview {
			t.Fatalf("delivery %+v is not storable as it is", d)
		}
		if eventHeader != "" && eventHeader != d.EventType {
			t.Fatalf("header %q accepted for event %q", eventHeader, d.EventType)
		}
		if !bytes.Equal(d.Payload, body) || !strings.HasPrefix(string(body), d.PayloadPreview) ||
			!utf8.ValidString(d.PayloadPreview) || utf8.RuneCountInString(d.PayloadPreview) > callback.PreviewLength {
			t.Fatalf("payload or preview altered: %+v", d)
		}
	})
}

// referenceWalk reports whether a valid JSON body has duplicate keys in an
// object, and how deep it nests. It stops at the first duplicate.
func referenceWalk(body []byte) (dup bool, depth int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	type object struct {
		keys    map[string]bool
		wantKey bool
	}
	var stack []*object // nil for arrays
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false, depth, true
		}
		if err != nil {
			return false, depth, false
		}
		var top *object
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if k, isString := tok.(string); isString && top != nil && top.wantKey {
			if top.keys[k] {
				return true, depth, true
			}
			top.keys[k], top.wantKey = true, false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &object{keys: map[string]bool{}, wantKey: true})
			depth = max(depth, len(stack))
			continue
		case json.Delim('['):
			stack = append(stack, nil)
			depth = max(depth, len(stack))
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 {
				top = stack[len(stack)-1]
			} else {
				top = nil
			}
		}
		if top != nil {
			top.wantKey = true
		}
	}
}
