package callback

import (
	"strings"
	"unicode/utf8"
)

// Limits of the text a stored callback's columns hold, in bytes of UTF-8.
//
// A PostgreSQL B-tree entry holds about 2.7 KB (less for text that does not
// compress), and an insert whose indexed value exceeds it fails. The
// idempotency key is unique-indexed, and event_type, external_job_id and
// workflow_name are indexed for the admin filters; these limits keep every
// one of them inside an entry whatever a signed payload holds, so that no
// payload can make an insert fail. Both databases apply the same rule, so a
// callback reads the same on either.
const (
	// MaxEventBytes bounds event: longer is refused (event_too_long).
	MaxEventBytes = 128
	// MaxJobIDBytes bounds job_id: longer is refused (job_id_too_long).
	MaxJobIDBytes = 256
	// MaxStepIDBytes bounds step_id where it is part of the key (step
	// events, unknown events): longer is refused (step_id_too_long).
	// Elsewhere the column is truncated to it.
	MaxStepIDBytes = 256
	// MaxWorkflowNameBytes bounds the workflow_name column: longer names are
	// truncated, the full name stays in the payload.
	MaxWorkflowNameBytes = 256
	// MaxErrorMessageBytes bounds the error_message column (not indexed, but
	// shown in every list row): longer messages are truncated.
	MaxErrorMessageBytes = 4096
	// MaxUserAgentBytes bounds the user_agent column.
	MaxUserAgentBytes = 256
	// MaxNameBytes bounds the short names a row records: signature scheme,
	// secret name, admin name.
	MaxNameBytes = 256
	// MaxPreviewBytes bounds the payload_preview column: PreviewLength
	// characters of at most 4 bytes each.
	MaxPreviewBytes = 4 * PreviewLength
	// MaxKeyBytes is the longest Key ParsePayload makes: every byte of a
	// component may be escaped to three, plus two separators. It stays
	// under a B-tree entry.
	MaxKeyBytes = 3*(MaxJobIDBytes+MaxEventBytes+MaxStepIDBytes) + 2
)

// StorableText applies the column rule to s: invalid UTF-8 (each run of bad
// bytes) and U+0000, which PostgreSQL text refuses and protobuf strings and
// logs must not carry, become U+FFFD; then, when maxBytes > 0, the text is
// cut at a rune boundary to at most maxBytes bytes. Every other code point
// is kept. The rule is idempotent, so stores and readers may apply it again
// to text that already passed it; readers apply it with maxBytes 0 so that a
// row holding bad bytes from elsewhere is still shown.
func StorableText(s string, maxBytes int) string {
	if (maxBytes <= 0 || len(s) <= maxBytes) && strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if maxBytes > 0 && len(s) > maxBytes {
		cut := maxBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// Storable returns d with the column rule (StorableText) applied to every
// text field but Key, each bounded by its limit. Payload is left exact. The
// Key is not rewritten, since two keys must never merge: ParsePayload
// escapes and bounds its components instead.
func (d Delivery) Storable() Delivery {
	d.EventType = StorableText(d.EventType, MaxEventBytes)
	d.ExternalJobID = StorableText(d.ExternalJobID, MaxJobIDBytes)
	d.WorkflowName = StorableText(d.WorkflowName, MaxWorkflowNameBytes)
	d.StepID = StorableText(d.StepID, MaxStepIDBytes)
	d.ErrorMessage = StorableText(d.ErrorMessage, MaxErrorMessageBytes)
	d.PayloadPreview = StorableText(d.PayloadPreview, MaxPreviewBytes)
	d.UserAgent = StorableText(d.UserAgent, MaxUserAgentBytes)
	d.Signature.Scheme = StorableText(d.Signature.Scheme, MaxNameBytes)
	d.Signature.KeyName = StorableText(d.Signature.KeyName, MaxNameBytes)
	return d
}

// Storable returns q with its text filters passed through the rule of the
// columns they compare with, so that a filter holding U+0000, bad bytes or
// an over-long value matches what was stored for it instead of failing.
func (q ListQuery) Storable() ListQuery {
	q.EventType = StorableText(q.EventType, MaxEventBytes)
	q.ExternalJobID = StorableText(q.ExternalJobID, MaxJobIDBytes)
	q.WorkflowName = StorableText(q.WorkflowName, MaxWorkflowNameBytes)
	return q
}

// ValidKey reports whether key can be stored as an idempotency key as it is:
// non-empty, valid UTF-8 without U+0000, and at most MaxKeyBytes. Keys that
// ParsePayload makes always are.
func ValidKey(key string) bool {
	return key != "" && len(key) <= MaxKeyBytes && strings.IndexByte(key, 0) < 0 && utf8.ValidString(key)
}
