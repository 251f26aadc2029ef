package webhook_test

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/webhook"
)

// recordingHeader is a delivery's headers that remembers which ones were
// read.
type recordingHeader struct {
	h    http.Header
	read map[string]bool
}

// Get returns the value of name and records that it was read.
func (r recordingHeader) Get(name string) string {
	r.read[http.CanonicalHeaderKey(name)] = true
	return r.h.Get(name)
}

// TestHeadersAreWhatVerifyReads checks that Headers names exactly the headers
// Verify reads, so that a transport passing those on loses nothing, and that
// SignatureHeaders is the signature headers in the order Verify tries them.
func TestHeadersAreWhatVerifyReads(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, false)
	ts := strconv.FormatInt(now.Unix(), 10)
	std, err := webhook.SignStandard(standard, "msg_1", now, body)
	require.NoError(t, err)
	// A Stripe delivery whose other signatures all fail, so that Verify
	// reads every header before it accepts the last scheme.
	r := recordingHeader{h: headers(
		webhook.HeaderLLMSignature, "sha256=00",
		webhook.HeaderStandardSignature, std+"x",
		webhook.HeaderStandardID, "msg_1",
		webhook.HeaderStandardTimestamp, ts,
		webhook.HeaderSvixSignature, std+"x",
		webhook.HeaderSvixID, "msg_1",
		webhook.HeaderSvixTimestamp, ts,
		webhook.HeaderGitHubSignature, "sha256=00",
		webhook.HeaderStripeSignature, webhook.SignStripe(stripe, now, body),
	), read: map[string]bool{}}
	res, err := v.Verify(r, body)
	require.NoError(t, err)
	require.Equal(t, webhook.SchemeStripe, res.Scheme)
	require.ElementsMatch(t, webhook.Headers(), slices.Collect(maps.Keys(r.read)))

	require.Equal(t, []string{webhook.HeaderLLMSignature, webhook.HeaderStandardSignature, webhook.HeaderSvixSignature, webhook.HeaderGitHubSignature, webhook.HeaderStripeSignature},
		webhook.SignatureHeaders())
	webhook.SignatureHeaders()[0] = "changed"
	require.Equal(t, webhook.HeaderLLMSignature, webhook.SignatureHeaders()[0], "each call returns a fresh slice")
}

// TestParsers checks what the parsers make of well-formed headers, and that
// a malformed one fails with the verifier's reason.
func TestParsers(t *testing.T) {
	t.Parallel()
	key := []byte(stripe)

	sig, err := webhook.ParseSHA256Hex(webhook.SignLLM(stripe, body))
	require.NoError(t, err)
	require.Nil(t, sig.Prefix, "an untimestamped scheme")
	require.True(t, sig.Matches(key, body))
	require.False(t, sig.Matches(key, append(body, ' ')))

	sig, err = webhook.ParseStripe(webhook.SignStripe(stripe, now, body) + ",v0=ignored,v1=" + "00")
	require.NoError(t, err)
	require.Equal(t, now.Unix(), sig.Unix)
	require.Equal(t, strconv.FormatInt(now.Unix(), 10)+".", string(sig.Prefix))
	require.Len(t, sig.MACs, 2)
	require.True(t, sig.Matches(key, body))

	std, err := webhook.SignStandard(standard, "msg_1", now, body)
	require.NoError(t, err)
	sig, err = webhook.ParseStandard("msg_1", strconv.FormatInt(now.Unix(), 10), "v1a,ignored "+std)
	require.NoError(t, err)
	stdKey, err := webhook.StandardKey(standard)
	require.NoError(t, err)
	require.True(t, sig.Matches(stdKey, body))
	require.Equal(t, now.Unix(), sig.Unix)

	for name, tc := range map[string]struct {
		err  error
		want error
	}{
		"sha256 without prefix":    {second(webhook.ParseSHA256Hex("abcd")), webhook.ErrSignatureMalformed},
		"sha256 short":             {second(webhook.ParseSHA256Hex("sha256=abcd")), webhook.ErrSignatureMalformed},
		"stripe without t":         {second(webhook.ParseStripe("v1=00")), webhook.ErrTimestampMalformed},
		"stripe t twice":           {second(webhook.ParseStripe("t=1,t=2,v1=00")), webhook.ErrTimestampMalformed},
		"stripe bad hex":           {second(webhook.ParseStripe("t=1,v1=zz")), webhook.ErrSignatureMalformed},
		"standard without id":      {second(webhook.ParseStandard("", "1", "v1,AAAA")), webhook.ErrSignatureMalformed},
		"standard signed negative": {second(webhook.ParseStandard("m", "-1", "v1,AAAA")), webhook.ErrTimestampMalformed},
		"standard without v1":      {second(webhook.ParseStandard("m", "1", "v1a,AAAA")), webhook.ErrSignatureMalformed},
	} {
		require.True(t, errors.Is(tc.err, tc.want), "%s: %v, want %v", name, tc.err, tc.want)
	}
	_, err = webhook.StandardKey("not-whsec")
	require.Error(t, err)
}

// second returns the error of a parser's result.
func second(_ webhook.Signature, err error) error { return err }
