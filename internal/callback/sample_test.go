package callback_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/webhook"
)

// TestSamplePayloadsParse: every sample is a payload the receiver accepts,
// with the status SPEC.md gives its event.
func TestSamplePayloadsParse(t *testing.T) {
	t.Parallel()
	for event, status := range map[string]callback.Status{
		callback.EventWorkflowCompleted: callback.StatusProcessed,
		callback.EventWorkflowFailed:    callback.StatusError,
		callback.EventStepCompleted:     callback.StatusReceived,
	} {
		p, err := callback.SamplePayload(event, "job-1", "", time.Date(2025, 12, 20, 10, 30, 0, 123456000, time.UTC))
		require.NoError(t, err)
		require.Equal(t, "2025-12-20T10:30:00.123456+00:00Z", p["timestamp"])
		body, err := webhook.PythonJSON(p)
		require.NoError(t, err)
		d, err := callback.ParsePayload(body, event, callback.PayloadLimits{})
		require.NoError(t, err, event)
		require.Equal(t, status, d.Status)
		require.True(t, d.KnownEvent)
	}
	_, err := callback.SamplePayload("job.paused", "job-1", "", time.Now())
	require.Error(t, err)
}
