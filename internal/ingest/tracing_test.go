package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/webhook"
)

// recorder is an SDK tracer provider that keeps every ended span in
// memory. The end-to-end proof against a real collector is
// TestTracesReachACollector (cmd/callbackd); this one checks the pipeline's
// own spans at its level.
func recorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// spanNamed returns the ended spans called name.
func spanNamed(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var spans []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			spans = append(spans, s)
		}
	}
	return spans
}

// remoteParent is a sender's span, as a traceparent header makes it.
func remoteParent(i byte) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0xca, 0x11, 0xba, i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		SpanID:     trace.SpanID{0x5e, 0x4d, i, 1, 2, 3, 4, 5},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
}

// TestCommitIsOneSpanLinkedToEachDelivery commits one batch of five
// deliveries, three of them traced: one span for the batch, a new trace,
// linked to the three deliveries' spans; every delivery learns that span,
// and each published result carries its delivery's span for the watchers.
func TestCommitIsOneSpanLinkedToEachDelivery(t *testing.T) {
	t.Parallel()
	tp, rec := recorder(t)
	pub := &tracedPublishLog{}
	c := newCommitter(t.Context(), storetest.OpenSQLite(t), pub, tp.Tracer(Instrumentation), 1, 64)
	defer c.close()
	var ds []callback.Delivery
	for i := range 5 {
		d := delivery(fmt.Sprintf("job-%d:workflow.completed", i))
		if i%2 == 0 {
			d.Trace = remoteParent(byte(i))
		}
		ds = append(ds, d)
	}
	batch := batchOf(ds...)
	c.commit(t.Context(), batch)

	commits := spanNamed(rec, "callbackd.commit")
	require.Len(t, commits, 1, "one span per batch")
	span := commits[0]
	require.False(t, span.Parent().IsValid(), "the batch belongs to no one delivery: a root")
	require.Contains(t, span.Attributes(), attribute.Int("callbackd.batch.size", 5))
	var linked []trace.SpanContext
	for _, l := range span.Links() {
		linked = append(linked, l.SpanContext)
	}
	require.ElementsMatch(t, []trace.SpanContext{ds[0].Trace, ds[2].Trace, ds[4].Trace}, linked)
	for i, p := range batch {
		o := <-p.done
		require.NoError(t, o.err)
		require.Equal(t, span.SpanContext(), o.commit, "delivery %d learns its batch's span", i)
	}
	require.Equal(t, []trace.SpanContext{ds[0].Trace, {}, ds[2].Trace, {}, ds[4].Trace}, pub.traces)
}

// tracedPublishLog records the trace context of what the committer
// published.
type tracedPublishLog struct{ traces []trace.SpanContext }

func (p *tracedPublishLog) Publish(results []callback.SaveResult) {
	for _, r := range results {
		p.traces = append(p.traces, r.Trace)
	}
}

// TestIngestContinuesTheCallersTrace ingests a signed delivery under a
// sender's span and a forged one beside it: the good one's span is a child
// of the sender's, with a verification child naming the scheme and a link
// to its commit's span, and its latency is observed with the trace id as
// exemplar; the forged one's verification span is an error, and nothing of
// it is committed.
func TestIngestContinuesTheCallersTrace(t *testing.T) {
	t.Parallel()
	tp, rec := recorder(t)
	verifier, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{webhook.SchemeLLM: {"main=s3cret"}}})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	svc, err := New(t.Context(), Config{Tracing: tp}, storetest.OpenSQLite(t), verifier, nil, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	defer svc.Close()

	body := []byte(`{"event":"workflow.completed","job_id":"0b7c6f1e-2d0e-4d3c-9a57-1b1f6c1f0e01","status":"completed","workflow_name":"w","result":{},"timestamp":"t"}`)
	signed := http.Header{}
	signed.Set(webhook.HeaderLLMSignature, webhook.SignLLM("s3cret", body))
	signed.Set("X-Webhook-Event", "workflow.completed")
	forged := http.Header{}
	forged.Set(webhook.HeaderLLMSignature, webhook.SignLLM("guess", body))

	sender := remoteParent(1)
	ctx := trace.ContextWithRemoteSpanContext(t.Context(), sender)
	_, err = svc.Ingest(ctx, Request{Body: body, Header: signed})
	require.NoError(t, err)
	_, err = svc.Ingest(trace.ContextWithRemoteSpanContext(t.Context(), remoteParent(2)), Request{Body: body, Header: forged})
	require.Error(t, err)
	svc.Close() // the commit's span ends after the delivery is answered

	ingests := spanNamed(rec, "callbackd.ingest")
	require.Len(t, ingests, 2)
	good, bad := ingests[0], ingests[1]
	require.Equal(t, sender.TraceID(), good.SpanContext().TraceID(), "the sender's trace continues")
	require.Equal(t, sender.SpanID(), good.Parent().SpanID())
	require.Contains(t, good.Attributes(), attribute.String("callbackd.outcome", "stored"))
	require.Len(t, good.Links(), 1)
	commits := spanNamed(rec, "callbackd.commit")
	require.Len(t, commits, 1, "the forged delivery reached no commit")
	require.Equal(t, commits[0].SpanContext(), good.Links()[0].SpanContext, "the delivery links to its batch")
	require.Equal(t, good.SpanContext(), commits[0].Links()[0].SpanContext, "and the batch to the delivery")

	verifies := spanNamed(rec, "callbackd.webhook.verify")
	require.Len(t, verifies, 2)
	require.Equal(t, good.SpanContext().SpanID(), verifies[0].Parent().SpanID())
	require.Contains(t, verifies[0].Attributes(), attribute.String("callbackd.signature.scheme", webhook.SchemeLLM))
	require.Contains(t, verifies[0].Attributes(), attribute.String("callbackd.signature.key_name", "main"))
	require.Equal(t, codes.Error, verifies[1].Status().Code)
	require.Equal(t, bad.SpanContext().SpanID(), verifies[1].Parent().SpanID())
	require.Equal(t, codes.Error, bad.Status().Code)

	exemplars := latencyExemplars(t, reg)
	require.Contains(t, exemplars, sender.TraceID().String(), "the sampled delivery's latency has its trace id as exemplar")
	require.Contains(t, exemplars, remoteParent(2).TraceID().String())
}

// latencyExemplars returns the trace ids of the ingest latency histogram's
// exemplars.
func latencyExemplars(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	var ids []string
	for _, f := range families {
		if f.GetName() != "callbackd_ingest_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, b := range m.GetHistogram().GetBucket() {
				ids = append(ids, exemplarTraceID(b.GetExemplar())...)
			}
		}
	}
	return ids
}

func exemplarTraceID(e *dto.Exemplar) []string {
	var ids []string
	for _, l := range e.GetLabel() {
		if l.GetName() == "trace_id" {
			ids = append(ids, l.GetValue())
		}
	}
	return ids
}

// TestIngestWithoutTracingMakesNoSpans: tracing off (no provider), a
// delivery under a sender's span makes no span of callbackd's and carries
// no trace context to the commit.
func TestIngestWithoutTracingMakesNoSpans(t *testing.T) {
	t.Parallel()
	verifier, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{webhook.SchemeLLM: {"main=s3cret"}}})
	require.NoError(t, err)
	pub := &tracedPublishLog{}
	svc, err := New(t.Context(), Config{}, storetest.OpenSQLite(t), verifier, pub, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	defer svc.Close()
	body := []byte(`{"event":"workflow.completed","job_id":"0b7c6f1e-2d0e-4d3c-9a57-1b1f6c1f0e02","status":"completed","workflow_name":"w","result":{},"timestamp":"t"}`)
	h := http.Header{}
	h.Set(webhook.HeaderLLMSignature, webhook.SignLLM("s3cret", body))
	_, err = svc.Ingest(trace.ContextWithRemoteSpanContext(t.Context(), remoteParent(3)), Request{Body: body, Header: h})
	require.NoError(t, err)
	svc.Close() // publishing follows the answer
	require.Equal(t, []trace.SpanContext{{}}, pub.traces)
}
