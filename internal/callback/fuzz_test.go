package callback_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode"
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
// agrees with a simple json.Decoder.Token walk on duplicate keys and depth;
// its Facts are non-negative finite figures, and the same as a reference
// reading with encoding/json of the members they come from; its search
// document is in normal form and bounded.
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
		checkFacts(t, d.Facts, m)
		checkDocument(t, d.SearchText)
	})
}

// FuzzParseQuery feeds arbitrary queries to ParseQuery: it never panics,
// fails only with ErrBadQuery, and yields bounded terms of normal-form words.
func FuzzParseQuery(f *testing.F) {
	for _, q := range []string{`timeout`, `"rate limit" gpt*`, `7b0c5bd8-54a6`, `"unclosed`, `***`, `a b c`, "\x00\xff"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		terms, err := callback.ParseQuery(q)
		if err != nil {
			if !errors.Is(err, callback.ErrBadQuery) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(terms) > callback.MaxQueryTerms {
			t.Fatalf("%d terms", len(terms))
		}
		for _, term := range terms {
			if len(term.Words) == 0 {
				t.Fatalf("empty term in %q", q)
			}
			checkDocument(t, " "+strings.Join(term.Words, " ")+" ")
			if !utf8.ValidString(term.JobIDPrefix) || strings.IndexByte(term.JobIDPrefix, 0) >= 0 {
				t.Fatalf("job id prefix %q not storable", term.JobIDPrefix)
			}
		}
	})
}

// checkDocument checks that doc is a search document in normal form: words
// of lower-case letters and digits, each bounded, between single spaces.
func checkDocument(t *testing.T, doc string) {
	t.Helper()
	if len(doc) > callback.MaxSearchBytes || !utf8.ValidString(doc) || !strings.HasPrefix(doc, " ") || !strings.HasSuffix(doc, " ") {
		t.Fatalf("document %q not bounded or not framed by spaces", doc)
	}
	for _, w := range strings.Split(doc[1:len(doc)-1], " ") {
		if doc == " " {
			break
		}
		if w == "" || len(w) > callback.MaxWordBytes {
			t.Fatalf("word %q in %q", w, doc)
		}
		for _, r := range w {
			if !(unicode.IsLetter(r) || unicode.IsNumber(r)) || unicode.ToLower(r) != r {
				t.Fatalf("word %q holds %q", w, r)
			}
		}
	}
}

// checkFacts compares f with a reading of the payload m by encoding/json.
func checkFacts(t *testing.T, f callback.Facts, m map[string]any) {
	t.Helper()
	for _, v := range []*int64{f.PromptTokens, f.CompletionTokens, f.TotalTokens, f.DurationMS} {
		if v != nil && *v < 0 {
			t.Fatalf("negative figure in %+v", f)
		}
	}
	if c := f.CostUSD; c != nil && (*c < 0 || math.IsNaN(*c) || math.IsInf(*c, 0)) {
		t.Fatalf("cost %v", *c)
	}
	if !utf8.ValidString(f.ErrorCategory) || len(f.ErrorCategory) > callback.MaxErrorCategoryBytes {
		t.Fatalf("error category %q", f.ErrorCategory)
	}
	// duration_ms as a plain JSON number must be read as encoding/json reads it.
	if n, ok := m["duration_ms"].(float64); ok && n >= 0 && n < 1e15 {
		if f.DurationMS == nil || *f.DurationMS != int64(math.Round(n)) {
			t.Fatalf("duration_ms %v read as %v", n, f.DurationMS)
		}
	}
	if e, ok := m["error"].(map[string]any); ok {
		if c, ok := e["category"].(string); ok && callback.StorableText(strings.TrimSpace(c), callback.MaxErrorCategoryBytes) != f.ErrorCategory {
			t.Fatalf("error.category %q read as %q", c, f.ErrorCategory)
		}
	}
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
