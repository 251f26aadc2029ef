package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestRejectionLogKeepsTheNewest wraps the ring and lists newest first.
func TestRejectionLogKeepsTheNewest(t *testing.T) {
	t.Parallel()
	var l rejectionLog
	require.Empty(t, l.list())
	for i := range maxRejections + 7 {
		l.add(Rejection{Reason: fmt.Sprint(i)})
	}
	got := l.list()
	require.Len(t, got, maxRejections)
	require.Equal(t, fmt.Sprint(maxRejections+6), got[0].Reason)
	require.Equal(t, "7", got[maxRejections-1].Reason)
}

// TestBounded: the result follows the column rule within the limit, cut at a rune
// boundary with an ellipsis when it had to be cut, and unchanged when it
// was already fine.
func TestBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"LLM Job Service/1.0", 64, "LLM Job Service/1.0"},
		{"", 64, ""},
		{"a\xffb", 64, "a\uFFFDb"},
		{strings.Repeat("x", 10), 10, strings.Repeat("x", 10)},
		{strings.Repeat("x", 11), 10, strings.Repeat("x", 7) + "…"},
		{"ab" + strings.Repeat("é", 10), 10, "abéé…"},    // é is 2 bytes: no half rune
		{strings.Repeat("\xff", 9), 8, "\uFFFD…"},        // replacement may expand: still bounded
		{"\xff\xff\xff\xff\xff\xff", 8, "\uFFFD"},        // one run of bad bytes, one U+FFFD
		{strings.Repeat("€", 3) + "\xe2\x82", 10, "€€…"}, // a split rune is dropped, not replaced
		{"job\x00id", 64, "job\uFFFDid"},                 // the column rule: no NUL in logs or lists
	} {
		got := bounded(tc.in, tc.limit)
		require.Equal(t, tc.want, got, "%q", tc.in)
		require.True(t, utf8.ValidString(got))
		require.LessOrEqual(t, len(got), tc.limit)
	}
}

// TestRejectionIsSanitised: a rejection made from hostile headers and an
// error that embeds a huge job id holds only valid, bounded strings.
func TestRejectionIsSanitised(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("j", 900<<10)
	req := Request{
		Header: http.Header{
			"X-Webhook-Event":     {"workflow.\xff" + huge},
			"X-Webhook-Signature": {"sha256=\xfe"},
		},
		UserAgent:  "curl/\xc0\xaf" + huge,
		RemoteAddr: "\xff" + huge,
		RequestID:  "\x00\xff" + huge,
	}
	r := newRejection(time.Now(), req, 12, fmt.Errorf("store callback %s:workflow.completed: %w", huge+"\xff", errors.New("boom")))
	for name, s := range map[string]string{"reason": r.Reason, "message": r.Message, "remote": r.RemoteAddr,
		"event": r.EventHeader, "user agent": r.UserAgent, "request id": r.RequestID} {
		require.True(t, utf8.ValidString(s), name)
		require.LessOrEqual(t, len(s), maxMessageBytes, name)
	}
	require.Equal(t, "internal", r.Reason)
	require.True(t, strings.HasPrefix(r.Message, "store callback jjj"), r.Message)
	require.True(t, strings.HasSuffix(r.Message, "…"), r.Message)
	require.LessOrEqual(t, len(r.UserAgent), maxUserAgentBytes)
	require.Equal(t, []string{"X-Webhook-Signature"}, r.SignatureHeaders)
	require.Equal(t, 12, r.BodyBytes)
}
