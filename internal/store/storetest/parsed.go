package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
)

// Parsed returns the delivery that ParsePayload makes of the sample payload
// of event (callback.SamplePayload) for jobID and stepID, received at at: a
// delivery as ingest hands it to Save, figures and search document
// included.
func Parsed(t testing.TB, event, jobID, stepID string, at time.Time) callback.Delivery {
	t.Helper()
	p, err := callback.SamplePayload(event, jobID, stepID, at)
	require.NoError(t, err)
	return ParsedBody(t, p, at)
}

// ParsedBody is Parsed for any payload, serialised as JSON.
func ParsedBody(t testing.TB, payload map[string]any, at time.Time) callback.Delivery {
	t.Helper()
	body, err := json.Marshal(payload)
	require.NoError(t, err)
	d, err := callback.ParsePayload(body, "", callback.PayloadLimits{})
	require.NoError(t, err)
	d.UserAgent = "LLM Job Service/1.0"
	d.Signature = callback.Signature{Valid: true, Scheme: "llm-hmac-sha256", KeyName: "default", VerifiedAt: at}
	d.ReceivedAt = at
	return d
}
