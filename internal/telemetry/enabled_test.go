package telemetry_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/telemetry"
)

// TestEnabledOnlyWhenTheEnvironmentAsks: tracing is off by default and
// whenever the SDK is disabled or the exporter is "none"; an exporter name
// or an OTLP endpoint turns it on.
func TestEnabledOnlyWhenTheEnvironmentAsks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env      map[string]string
		exporter string
		on       bool
	}{
		{env: nil},
		{env: map[string]string{"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}},
		{env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{env: map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "console"}, exporter: "console", on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, exporter: "otlp", on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, exporter: "otlp", on: true},
	} {
		exporter, on := telemetry.Enabled(func(k string) string { return tc.env[k] })
		require.Equal(t, tc.on, on, "%v", tc.env)
		require.Equal(t, tc.exporter, exporter, "%v", tc.env)
	}
}

// TestOffCostsNothing: off, New builds no provider (the instrumented
// packages then install nothing) and Shutdown has nothing to flush.
func TestOffCostsNothing(t *testing.T) {
	t.Parallel()
	tr, err := telemetry.New(t.Context(), func(string) string { return "" }, "v0")
	require.NoError(t, err)
	require.Nil(t, tr.TracerProvider())
	require.Empty(t, tr.Exporter())
	require.NoError(t, tr.Shutdown(t.Context()))
}
