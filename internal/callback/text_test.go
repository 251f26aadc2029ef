package callback_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
)

func TestStorableText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain text is kept", "résumé <x> & y", 0, "résumé <x> & y"},
		{"within the limit", "abc", 3, "abc"},
		{"NUL replaced", "a\x00b\x00", 0, "a\uFFFDb\uFFFD"},
		{"a run of bad bytes is one replacement", "a\xff\xfe\x80b", 0, "a\uFFFDb"},
		{"a surrogate encoding is invalid", "\xed\xa0\x80", 0, "\uFFFD"},
		{"other control and private code points kept", "\x01\x7f\uFFFE\U0010FFFF", 0, "\x01\x7f\uFFFE\U0010FFFF"},
		{"cut at a byte limit", "abcdef", 4, "abcd"},
		{"cut before a rune that does not fit", "ab€", 4, "ab"},
		{"cut after replacing", "\x00\x00", 4, "\uFFFD"},
		{"no limit", strings.Repeat("x", 10000), 0, strings.Repeat("x", 10000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := callback.StorableText(tc.in, tc.max)
			require.Equal(t, tc.want, got)
			require.Equal(t, got, callback.StorableText(got, tc.max), "idempotent")
		})
	}
}

func TestDeliveryStorable(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("\xffa\x00", 4000)
	d := callback.Delivery{
		Key: "k\x00", EventType: long, ExternalJobID: long, WorkflowName: long, StepID: long, ErrorMessage: long,
		PayloadPreview: long, UserAgent: long, Payload: []byte(long),
		Signature: callback.Signature{Scheme: long, KeyName: long},
	}
	s := d.Storable()
	require.Equal(t, "k\x00", s.Key, "the key is never rewritten")
	require.Equal(t, []byte(long), s.Payload, "the payload stays exact")
	for limit, v := range map[string]struct {
		s   string
		max int
	}{
		"event":    {s.EventType, callback.MaxEventBytes},
		"job":      {s.ExternalJobID, callback.MaxJobIDBytes},
		"workflow": {s.WorkflowName, callback.MaxWorkflowNameBytes},
		"step":     {s.StepID, callback.MaxStepIDBytes},
		"error":    {s.ErrorMessage, callback.MaxErrorMessageBytes},
		"preview":  {s.PayloadPreview, callback.MaxPreviewBytes},
		"agent":    {s.UserAgent, callback.MaxUserAgentBytes},
		"scheme":   {s.Signature.Scheme, callback.MaxNameBytes},
		"key name": {s.Signature.KeyName, callback.MaxNameBytes},
	} {
		require.True(t, utf8.ValidString(v.s), limit)
		require.NotContains(t, v.s, "\x00", limit)
		require.LessOrEqual(t, len(v.s), v.max, limit)
		require.Greater(t, len(v.s), v.max-utf8.UTFMax, "%s: cut only to a rune boundary", limit)
	}

	q := callback.ListQuery{EventType: "e\x00", ExternalJobID: long, WorkflowName: "w\xff"}.Storable()
	require.Equal(t, "e\uFFFD", q.EventType)
	require.Equal(t, s.ExternalJobID, q.ExternalJobID, "a filter matches the stored column")
	require.Equal(t, "w\uFFFD", q.WorkflowName)
}

func TestValidKey(t *testing.T) {
	t.Parallel()
	require.True(t, callback.ValidKey("j:workflow.completed"))
	require.True(t, callback.ValidKey(strings.Repeat("k", callback.MaxKeyBytes)))
	require.False(t, callback.ValidKey(""))
	require.False(t, callback.ValidKey("a\x00"))
	require.False(t, callback.ValidKey("a\xff"))
	require.False(t, callback.ValidKey(strings.Repeat("k", callback.MaxKeyBytes+1)))
}
