package callback

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TraceParent formats a span context as a W3C traceparent
// ("00-<trace id>-<span id>-<flags>"), the form in which the watch events
// and the replicas' notifications carry it; "" for an invalid one.
func TraceParent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// ParseTraceParent reads a W3C traceparent with the OpenTelemetry
// propagator's own rules; ok is false for anything else (it crossed a
// boundary: it is checked, never trusted). The span context is remote.
func ParseTraceParent(s string) (sc trace.SpanContext, ok bool) {
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": s})
	sc = trace.SpanContextFromContext(ctx)
	return sc, sc.IsValid()
}
