package server

import (
	"context"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/otelconnect"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// tracing instruments the server's routes with OpenTelemetry when a tracer
// provider is configured, and does nothing at all when it is not: tracing
// off costs no wrapper, no header parsing and no allocation.
//
// Each protocol gets its library's instrumentation: otelhttp on the plain
// HTTP routes (the webhook, the REST API), otelconnect on the RPC handlers
// (gRPC, gRPC-Web, Connect), otelgrpc on the REST gateway's connection to
// them, so that a REST call is one trace from its HTTP span to the RPC's.
// All three read and write W3C Trace Context, and continue a caller's
// trace: the webhook's so that a delivery joins its sender's trace, the
// admin API's so that an operator's tool does. Metrics stay Prometheus's
// (the instrumentations' own are off).
type tracing struct {
	provider trace.TracerProvider // nil: off
}

// propagator is the one format of trace context the server reads and
// writes, passed to each instrumentation rather than set process-wide.
func propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// http wraps a plain HTTP route in a server span named by its route pattern.
func (t tracing) http(h http.Handler) http.Handler {
	if t.provider == nil {
		return h
	}
	return otelhttp.NewHandler(h, "",
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(propagator()),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
}

// rpcInterceptors are the interceptors that trace the RPC handlers: none
// when tracing is off. Health checks and reflection are not traced: probes
// would drown the traces that matter.
func (t tracing) rpcInterceptors() ([]connect.Interceptor, error) {
	if t.provider == nil {
		return nil, nil
	}
	i, err := otelconnect.NewInterceptor(
		otelconnect.WithTracerProvider(t.provider),
		otelconnect.WithPropagator(propagator()),
		otelconnect.WithTrustRemote(),
		otelconnect.WithoutMetrics(),
		otelconnect.WithFilter(func(_ context.Context, spec connect.Spec) bool {
			return !strings.HasPrefix(spec.Procedure, "/"+grpchealth.HealthV1ServiceName+"/") &&
				!strings.HasPrefix(spec.Procedure, "/grpc.reflection.")
		}),
	)
	if err != nil {
		return nil, err
	}
	return []connect.Interceptor{i}, nil
}

// gatewayDialOptions trace the gateway's calls to the RPC handlers and
// carry the REST request's trace context to them.
func (t tracing) gatewayDialOptions() []grpc.DialOption {
	if t.provider == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(t.provider),
		otelgrpc.WithPropagators(propagator()),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
	))}
}
