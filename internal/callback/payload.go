package callback

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/callbackd/callbackd/internal/apierror"
)

// The events the LLM service sends.
const (
	EventWorkflowCompleted = "workflow.completed"
	EventWorkflowFailed    = "workflow.failed"
	EventStepCompleted     = "llm.step.completed"
)

// DefaultMaxDepth is the nesting limit of payloads when PayloadLimits.MaxDepth
// is zero. Real payloads nest 4 to 6 deep.
const DefaultMaxDepth = 32

// PreviewLength is the length of Delivery.PayloadPreview, in characters.
const PreviewLength = 200

// PayloadLimits bounds what ParsePayload accepts. The body size is bounded
// earlier, by the transport, which must not read past its limit.
type PayloadLimits struct {
	// MaxDepth is the deepest nesting of objects and arrays accepted, the
	// top-level object counting as 1. Zero (or less) means DefaultMaxDepth.
	MaxDepth int
}

// The reasons ParsePayload rejects a payload for. It wraps them with detail;
// test them with errors.Is, and read the reason with apierror.Of.
var (
	ErrEmptyBody     = apierror.New(apierror.EmptyBody, "empty body")
	ErrInvalidUTF8   = apierror.New(apierror.InvalidUTF8, "body is not valid UTF-8")
	ErrMalformedJSON = apierror.New(apierror.MalformedJSON, "body is not one JSON value")
	ErrNotObject     = apierror.New(apierror.NotObject, "body is not a JSON object")
	ErrDuplicateKey  = apierror.New(apierror.DuplicateKey, "duplicate key in a JSON object")
	ErrTooDeep       = apierror.New(apierror.TooDeep, "JSON nested too deep")
	ErrMissingEvent  = apierror.New(apierror.MissingEvent, "missing, empty or non-string event")
	ErrMissingJobID  = apierror.New(apierror.MissingJobID, "missing, empty or non-string job_id")
	ErrMissingStepID = apierror.New(apierror.MissingStepID, "llm.step.completed without a non-empty string step_id")
	ErrEventMismatch = apierror.New(apierror.EventMismatch, "X-Webhook-Event header differs from the body's event")
	ErrEventTooLong  = apierror.New(apierror.EventTooLong, fmt.Sprintf("event longer than %d bytes", MaxEventBytes))
	ErrJobIDTooLong  = apierror.New(apierror.JobIDTooLong, fmt.Sprintf("job_id longer than %d bytes", MaxJobIDBytes))
	ErrStepIDTooLong = apierror.New(apierror.StepIDTooLong, fmt.Sprintf("step_id longer than %d bytes in an event whose key includes it", MaxStepIDBytes))
)

// ParsePayload checks the body of a verified delivery and extracts what
// storage and the admin views need. It runs after signature verification,
// on the exact bytes received, and fills every Delivery field except
// UserAgent, Signature and ReceivedAt, which belong to the transport.
// Payload is body itself, not a copy.
//
// The body must be one UTF-8 JSON object without duplicate keys at any depth
// and no deeper than limits.MaxDepth (beyond encoding/json's own limit of
// 10000 levels it is reported as malformed), with non-empty string fields
// event and job_id, and for llm.step.completed a non-empty string step_id.
// Other fields are read when they have the expected type and ignored
// otherwise; the malformed timestamp the LLM service sends is never read.
//
// The body's event is authoritative: the signature covers it, not the
// X-Webhook-Event header. eventHeader is that header, "" when absent (other
// senders do not send it); when present it must equal the body's event, else
// ErrEventMismatch, since a callback whose routing header lies comes from a
// broken or tampered sender.
//
// Unknown events are accepted with KnownEvent false, as the sender may add
// events. Status is processed for workflow.completed, error for
// workflow.failed and received otherwise. ErrorMessage is error_message, or
// error.message when that is absent or empty, whatever the event.
//
// Key is the idempotency key of SPEC.md: job_id:event for workflow events,
// job_id:event:step_id for llm.step.completed and for unknown events that
// carry a step_id. Each component has '%', ':' and U+0000 percent-escaped, so
// that ids containing them cannot make two logical callbacks share a key,
// while the usual uuids and dotted names read unchanged. The components are
// bounded (MaxEventBytes, MaxJobIDBytes, MaxStepIDBytes; longer is
// ErrEventTooLong, ErrJobIDTooLong, ErrStepIDTooLong) so that the key always
// fits a database index entry.
//
// The other text fields follow the column rule of Delivery.Storable: valid
// UTF-8 without U+0000, bounded; the payload keeps the full values.
func ParsePayload(body []byte, eventHeader string, limits PayloadLimits) (Delivery, error) {
	if len(body) == 0 {
		return Delivery{}, ErrEmptyBody
	}
	if !utf8.Valid(body) {
		return Delivery{}, ErrInvalidUTF8
	}
	maxDepth := limits.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	sc, err := scanPayload(body, maxDepth)
	if err != nil {
		return Delivery{}, err
	}
	top, errorMessage := sc.top, sc.errorMessage

	event := top["event"]
	if !event.isString || event.value == "" {
		return Delivery{}, ErrMissingEvent
	}
	if eventHeader != "" && eventHeader != event.value {
		return Delivery{}, fmt.Errorf("%w: header %.64q, body %.64q", ErrEventMismatch, eventHeader, event.value)
	}
	jobID := top["job_id"]
	if !jobID.isString || jobID.value == "" {
		return Delivery{}, ErrMissingJobID
	}
	if len(event.value) > MaxEventBytes {
		return Delivery{}, ErrEventTooLong
	}
	if len(jobID.value) > MaxJobIDBytes {
		return Delivery{}, ErrJobIDTooLong
	}
	d := Delivery{
		EventType:      event.value,
		Status:         StatusReceived,
		ExternalJobID:  jobID.value,
		WorkflowName:   top["workflow_name"].value,
		StepID:         top["step_id"].value,
		ErrorMessage:   top["error_message"].value,
		Payload:        body,
		PayloadPreview: preview(body),
	}
	if d.ErrorMessage == "" {
		d.ErrorMessage = errorMessage
	}
	d.Facts = sc.facts()
	switch d.EventType {
	case EventWorkflowCompleted:
		d.KnownEvent, d.Status = true, StatusProcessed
	case EventWorkflowFailed:
		d.KnownEvent, d.Status = true, StatusError
	case EventStepCompleted:
		if d.StepID == "" {
			return Delivery{}, ErrMissingStepID
		}
		d.KnownEvent = true
	}
	d.Key = keyComponent(d.ExternalJobID) + ":" + keyComponent(d.EventType)
	if d.StepID != "" && d.EventType != EventWorkflowCompleted && d.EventType != EventWorkflowFailed {
		if len(d.StepID) > MaxStepIDBytes {
			return Delivery{}, ErrStepIDTooLong
		}
		d.Key += ":" + keyComponent(d.StepID)
	}
	d = d.Storable()
	d.SearchText = SearchDocument(d, sc.texts)
	return d, nil
}

// keyComponent escapes one component of an idempotency key.
func keyComponent(s string) string {
	return keyEscaper.Replace(s)
}

var keyEscaper = strings.NewReplacer("%", "%25", ":", "%3A", "\x00", "%00")

// preview returns the first PreviewLength characters of a valid UTF-8 body.
func preview(body []byte) string {
	end := 0
	for n := 0; n < PreviewLength && end < len(body); n++ {
		_, size := utf8.DecodeRune(body[end:])
		end += size
	}
	return string(body[:end])
}

// topField is a top-level member of a payload: value is the text of a
// string, raw the token of a number (empty for other values).
type topField struct {
	value    string
	raw      string
	isString bool
}

// scanned is what scanPayload reads from a payload.
type scanned struct {
	top          map[string]topField
	errorMessage string // the string error.message
	// nested holds the scalar members of the objects that carry figures
	// (factObjects), by "object.member": a string's text or a number's
	// token, marked by topField.isString.
	nested map[string]topField
	// texts are the payload's string values (not keys), in order, up to
	// the search document's bound.
	texts []string
	// textBytes counts the bytes of texts.
	textBytes int
}

// factObjects are the top-level objects whose members scanPayload keeps for
// Facts.
var factObjects = map[string]bool{"tokens": true, "usage": true, "cost_data": true, "error": true}

// frame is one open object or array while scanning.
type frame struct {
	object    bool
	wantKey   bool                // the next string of an object is a key
	key       string              // the latest key of an object
	firstKey  int                 // where the object's keys start in the key stack
	keyByName map[string]struct{} // the object's keys, once it has many
}

// smallObject is the number of keys up to which an object's keys are searched
// linearly: real payloads' objects are smaller, and a map costs more there.
const smallObject = 16

// addKey records key k of the object f on the key stack, and reports false
// when the object already has that key.
func (f *frame) addKey(keys *[]string, k string) bool {
	if f.keyByName != nil {
		if _, dup := f.keyByName[k]; dup {
			return false
		}
		f.keyByName[k] = struct{}{}
		return true
	}
	if slices.Contains((*keys)[f.firstKey:], k) {
		return false
	}
	*keys = append(*keys, k)
	if len(*keys)-f.firstKey > smallObject {
		f.keyByName = make(map[string]struct{})
		for _, o := range (*keys)[f.firstKey:] {
			f.keyByName[o] = struct{}{}
		}
	}
	return true
}

// scanPayload checks that body is a single JSON object, without duplicate
// keys and no deeper than maxDepth, and returns its top-level members and the
// string error.message if any.
//
// encoding/json checks the syntax first; the walk then only follows the
// structure of valid JSON, with an explicit stack: time and memory are linear
// in the body, no input can deepen the Go stack, and only keys and the
// strings it returns are decoded. (A json.Decoder.Token walk is simpler but
// about five times slower, and parsing is on every delivery's path.)
func scanPayload(body []byte, maxDepth int) (*scanned, error) {
	if !json.Valid(body) {
		// Only to describe the error: unmarshalling into a RawMessage
		// reports the syntax error with its offset.
		err := json.Unmarshal(body, new(json.RawMessage))
		return nil, fmt.Errorf("%w: %v", ErrMalformedJSON, err)
	}
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return nil, ErrNotObject
	}
	sc := &scanned{top: make(map[string]topField)}
	top := sc.top
	var stack []frame
	var keys []string // the keys of the open objects, innermost last
	for i = skipSpace(body, i); i < len(body); i = skipSpace(body, i) {
		start := i
		switch body[i] {
		case ',', ':':
			i++
			continue
		case '}', ']':
			keys = keys[:stack[len(stack)-1].firstKey]
			stack = stack[:len(stack)-1]
			i++
			continue
		case '"':
			i = stringEnd(body, i)
		case '{', '[':
			i++
		default: // a number, true, false or null
			for i < len(body) && !strings.ContainsRune(",]} \t\n\r", rune(body[i])) {
				i++
			}
		}
		token := body[start:i]

		if len(stack) > 0 && stack[len(stack)-1].wantKey {
			cur := &stack[len(stack)-1]
			k := decodeString(token)
			if !cur.addKey(&keys, k) {
				return nil, fmt.Errorf("%w: %.64q at byte %d", ErrDuplicateKey, k, start)
			}
			cur.key, cur.wantKey = k, false
			continue
		}

		// token starts a value: an element, or the member cur.key. The
		// enclosing object wants a key next, once any container value closes.
		if len(stack) > 0 {
			cur := &stack[len(stack)-1]
			isString := token[0] == '"'
			var text string
			if isString {
				text = decodeString(token)
				sc.addText(text)
			}
			scalar := token[0] != '{' && token[0] != '['
			switch {
			case len(stack) == 1 && isString:
				top[cur.key] = topField{value: text, isString: true}
			case len(stack) == 1 && scalar:
				top[cur.key] = topField{raw: string(token)}
			case len(stack) == 1:
				top[cur.key] = topField{}
			case len(stack) == 2 && cur.object && scalar && factObjects[stack[0].key]:
				if stack[0].key == "error" && cur.key == "message" && isString {
					sc.errorMessage = text
				}
				if sc.nested == nil {
					sc.nested = make(map[string]topField)
				}
				f := topField{value: text, isString: isString}
				if !isString {
					f.raw = string(token)
				}
				sc.nested[stack[0].key+"."+cur.key] = f
			}
			cur.wantKey = cur.object
		}
		if token[0] == '{' || token[0] == '[' {
			if len(stack) == maxDepth {
				return nil, fmt.Errorf("%w: deeper than %d at byte %d", ErrTooDeep, maxDepth, start)
			}
			stack = append(stack, frame{object: token[0] == '{', wantKey: token[0] == '{', firstKey: len(keys)})
		}
	}
	return sc, nil
}

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the valid JSON string starting at i.
func stringEnd(b []byte, i int) int {
	for i++; b[i] != '"'; i++ {
		if b[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// decodeString returns the text of a valid JSON string token.
func decodeString(token []byte) string {
	if bytes.IndexByte(token, '\\') < 0 {
		return string(token[1 : len(token)-1])
	}
	var s string
	_ = json.Unmarshal(token, &s) // cannot fail: the body is valid JSON
	return s
}
