// Package telemetry wires the OpenTelemetry SDK for callbackd from the
// standard OTEL_* environment variables. It is the only package that knows
// the SDK and its exporters: the domain and transport packages see a
// trace.TracerProvider (an interface of go.opentelemetry.io/otel/trace), or
// nil when tracing is off, and then skip their instrumentation entirely.
//
// Tracing is off unless the environment asks for it: OTEL_SDK_DISABLED=true
// turns it off, OTEL_TRACES_EXPORTER names the exporter ("none" is off), and
// without that variable an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) turns on the OTLP exporter. The
// exporter itself (protocol, endpoint, headers, timeouts) is configured by
// the contrib autoexport package from the same variables, and the sampler
// (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) and the resource
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) by the SDK.
package telemetry

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName is the service.name of callbackd's spans unless
// OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) says
// otherwise.
const ServiceName = "callbackd"

// Tracing is callbackd's tracer provider as the environment configured it.
// Build it with New; Shutdown flushes what is buffered.
type Tracing struct {
	provider *sdktrace.TracerProvider // nil when tracing is off
	exporter string                   // the OTEL_TRACES_EXPORTER in effect, for the log
}

// Enabled reports whether the environment turns tracing on, and with which
// exporter. getenv is os.Getenv in the program.
func Enabled(getenv func(string) string) (exporter string, on bool) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return "", false
	}
	exporter = strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))
	switch {
	case exporter == "none":
		return "", false
	case exporter != "":
		return exporter, true
	case getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		return "otlp", true
	}
	return "", false
}

// New builds tracing from the environment (getenv is os.Getenv in the
// program; the exporter and the SDK read the process environment
// themselves). version is the build's version, the resource's
// service.version. Off, it returns a Tracing whose TracerProvider is nil and
// whose Shutdown does nothing.
func New(ctx context.Context, getenv func(string) string, version string) (*Tracing, error) {
	exporterName, on := Enabled(getenv)
	if !on {
		return &Tracing{}, nil
	}
	exporter, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER %q: %w", exporterName, err)
	}
	// The service's own name and version first; the environment's
	// detector comes after them and so overrides them.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(ServiceName), semconv.ServiceVersion(version)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		_ = exporter.Shutdown(ctx)
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME: %w", err)
	}
	// The batch processor exports in the background (OTEL_BSP_* tune it):
	// a request never waits for the collector.
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return &Tracing{provider: provider, exporter: exporterName}, nil
}

// TracerProvider is the provider to instrument with, or nil when tracing is
// off (the instrumented packages then do nothing at all).
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t.provider == nil {
		return nil
	}
	return t.provider
}

// Exporter names the exporter in use ("" when tracing is off).
func (t *Tracing) Exporter() string { return t.exporter }

// Shutdown exports the spans still buffered and stops the exporter. Call it
// after the server has stopped, with a deadline.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.provider == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("telemetry: flush spans: %w", err)
	}
	return nil
}

// Propagator is the one context propagation format callbackd reads and
// writes: W3C Trace Context (the traceparent and tracestate headers). It is
// passed explicitly to every instrumentation rather than set globally.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }
