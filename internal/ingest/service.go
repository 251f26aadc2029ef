package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/failurelimit"
	"github.com/callbackd/callbackd/internal/webhook"
)

// DefaultMaxBodyBytes is the default body limit: 1 MiB, as SPEC.md asks.
const DefaultMaxBodyBytes = 1 << 20

// Errors of the ingest pipeline itself; the verifier and the payload parser
// have their own.
var (
	// ErrBodyTooLarge: the body exceeds Config.MaxBodyBytes.
	ErrBodyTooLarge = apierror.New(apierror.BodyTooLarge, "request body exceeds the size limit")
	// ErrUnsupportedMediaType: the Content-Type is not JSON.
	ErrUnsupportedMediaType = apierror.New(apierror.UnsupportedMediaType, "content type must be application/json")
	// ErrRateLimited: a delivery failed authentication, and its sender has
	// failed too often recently. It is decided after the signature check,
	// so a delivery with a valid signature is never refused, whoever else
	// shares its address; a forger only learns to slow down.
	ErrRateLimited = apierror.New(apierror.RateLimited, "too many failed deliveries from this address; slow down")
	// ErrUnsupportedContentEncoding: the body is compressed or otherwise
	// encoded. Signatures cover the bytes as sent, and decoding would let a
	// small body expand past the size limit.
	ErrUnsupportedContentEncoding = apierror.New(apierror.UnsupportedContentEncoding, "content encoding must be identity (no compression)")
	// ErrBodyUnreadable: the body could not be read to its end, such as when
	// the sender went away or stalled past the read timeout.
	ErrBodyUnreadable = apierror.New(apierror.BodyUnreadable, "could not read the request body")
)

// Config tunes a Service.
type Config struct {
	// MaxBodyBytes is the largest accepted body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Payload bounds the JSON checks.
	Payload callback.PayloadLimits
	// Workers is the number of concurrent commit workers; 0 means 1.
	Workers int
	// MaxBatch is the most deliveries stored in one transaction; 0 means 128.
	MaxBatch int
	// FailuresPerSecond and FailureBurst limit deliveries that fail
	// authentication, per sender (an IPv4 address or an IPv6 /64): beyond
	// them, its deliveries that fail get ErrRateLimited (those with a valid
	// signature never do). FailuresPerSecond <= 0 disables the limit.
	FailuresPerSecond float64
	FailureBurst      int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Tracing, when not nil, traces every delivery (its verification, its
	// wait for the commit) and every committed batch; nil traces nothing
	// and costs nothing.
	Tracing trace.TracerProvider
}

// Instrumentation is the name of callbackd's own tracers (the ingest
// pipeline's, the watch hub's, the replica link's).
const Instrumentation = "github.com/callbackd/callbackd"

// Service is the ingest pipeline. Build it with New; Close it after the
// transports have stopped.
type Service struct {
	cfg       Config
	verifier  *webhook.Verifier
	committer *committer
	log       *slog.Logger
	metrics   *metrics
	limiter   *failurelimit.Limiter
	rejected  rejectionLog
	tracer    trace.Tracer // nil: tracing is off
}

// New starts a Service that stores into store and tells publisher (may be
// nil) after each commit. Its metrics are registered on reg.
func New(ctx context.Context, cfg Config, store callback.Store, verifier *webhook.Verifier, publisher Publisher, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 128
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	var tracer trace.Tracer
	if cfg.Tracing != nil {
		tracer = cfg.Tracing.Tracer(Instrumentation)
	}
	return &Service{
		cfg:       cfg,
		verifier:  verifier,
		committer: newCommitter(context.WithoutCancel(ctx), store, publisher, tracer, cfg.Workers, cfg.MaxBatch),
		log:       log,
		metrics:   m,
		limiter:   failurelimit.New(cfg.FailuresPerSecond, cfg.FailureBurst),
		tracer:    tracer,
	}, nil
}

// Close waits for queued deliveries to be committed and answered.
func (s *Service) Close() { s.committer.close() }

// Ingest checks, verifies and durably stores one delivery. It returns only
// after the row has committed, so a nil error may be acknowledged with 2xx.
//
// Traced, a delivery is the span "callbackd.ingest" (a child of the
// caller's span, and so of the sender's traceparent) with a child
// "callbackd.webhook.verify", and a link to the span of the batch that
// committed it.
func (s *Service) Ingest(ctx context.Context, req Request) (Result, error) {
	start := s.cfg.Now()
	var span trace.Span
	if s.tracer != nil {
		ctx, span = s.tracer.Start(ctx, "callbackd.ingest", trace.WithAttributes(attribute.Int("callbackd.body_bytes", len(req.Body))))
	}
	s.metrics.bodyBytes.Observe(float64(len(req.Body)))
	res, commit, err := s.ingest(ctx, req)
	outcome := "stored"
	switch {
	case err != nil:
		outcome = s.reject(ctx, start, req, int64(len(req.Body)), err)
	case res.Duplicate:
		outcome = "duplicate"
	}
	s.metrics.deliveries.WithLabelValues(outcome).Inc()
	s.metrics.observeLatency(ctx, s.cfg.Now().Sub(start).Seconds())
	if span != nil {
		endIngestSpan(span, outcome, res, commit, err)
	}
	return res, err
}

// endIngestSpan records a delivery's outcome on its span and ends it.
func endIngestSpan(span trace.Span, outcome string, res Result, commit trace.SpanContext, err error) {
	span.SetAttributes(attribute.String("callbackd.outcome", outcome))
	if err != nil {
		span.SetStatus(codes.Error, outcome)
	} else {
		span.SetAttributes(
			attribute.String("callbackd.callback.id", res.ID.String()),
			attribute.String("callbackd.callback.key", res.Key),
			attribute.Bool("callbackd.duplicate", res.Duplicate),
		)
		if commit.IsValid() {
			span.AddLink(trace.Link{SpanContext: commit, Attributes: []attribute.KeyValue{attribute.String("callbackd.link", "commit")}})
		}
	}
	span.End()
}

// Reject records a delivery that the transport refused before it could
// reach Ingest (a body over the limit, unreadable, or in an unsupported
// encoding): it is logged, counted and listed like every other rejection.
// bodyBytes is what is known of the body's size: the bytes read, or the
// declared Content-Length.
func (s *Service) Reject(ctx context.Context, req Request, bodyBytes int64, err error) {
	outcome := s.reject(ctx, s.cfg.Now(), req, bodyBytes, err)
	s.metrics.deliveries.WithLabelValues(outcome).Inc()
}

// reject lists and logs a refused delivery, and returns its outcome label.
func (s *Service) reject(ctx context.Context, at time.Time, req Request, bodyBytes int64, err error) string {
	r := newRejection(at, req, bodyBytes, err)
	s.rejected.add(r)
	s.log.WarnContext(ctx, "delivery rejected",
		"request_id", r.RequestID,
		"reason", r.Reason,
		"err", r.Message,
		"remote_addr", r.RemoteAddr,
		"body_bytes", r.BodyBytes,
		"event_header", r.EventHeader,
		"user_agent", r.UserAgent,
	)
	return r.Reason
}

// ingest is Ingest without the metrics; it also returns the span of the
// batch that committed the delivery (zero when not traced).
func (s *Service) ingest(ctx context.Context, req Request) (Result, trace.SpanContext, error) {
	if int64(len(req.Body)) > s.cfg.MaxBodyBytes {
		return Result{}, trace.SpanContext{}, ErrBodyTooLarge
	}
	// The signature is checked over the raw bytes before anything parses
	// them, and before the failure limit: a valid signature is never refused
	// for what others sent from the same address.
	sig, err := s.verify(ctx, req)
	if err != nil {
		if !s.limiter.Fail(req.RemoteAddr, s.cfg.Now()) {
			return Result{}, trace.SpanContext{}, ErrRateLimited
		}
		return Result{}, trace.SpanContext{}, err
	}
	d, err := callback.ParsePayload(req.Body, req.Header.Get("X-Webhook-Event"), s.cfg.Payload)
	if err != nil {
		return Result{}, trace.SpanContext{}, err
	}
	now := s.cfg.Now().UTC()
	d.UserAgent = callback.StorableText(req.UserAgent, callback.MaxUserAgentBytes)
	d.ReceivedAt = now
	d.Signature = callback.Signature{Valid: sig.Valid, Scheme: sig.Scheme, KeyName: sig.KeyName, VerifiedAt: now}
	if !sig.Valid {
		s.log.WarnContext(ctx, "stored an UNSIGNED callback (--allow-unsigned is on)", "request_id", req.RequestID, "key", d.Key, "remote_addr", req.RemoteAddr)
	}
	if s.tracer != nil {
		d.Trace = trace.SpanContextFromContext(ctx)
	}
	saved, commit, err := s.committer.submit(ctx, d)
	if err != nil {
		return Result{}, trace.SpanContext{}, fmt.Errorf("store callback %s: %w", d.Key, err)
	}
	return Result{ID: saved.ID, Key: saved.Key, Duplicate: saved.Duplicate}, commit, nil
}

// verify checks the delivery's signature, in a span of its own when
// traced: the scheme and the secret's name that verified it, or the reason
// it failed (never a secret or a signature).
func (s *Service) verify(ctx context.Context, req Request) (webhook.Result, error) {
	if s.tracer == nil {
		return s.verifier.Verify(req.Header, req.Body)
	}
	_, span := s.tracer.Start(ctx, "callbackd.webhook.verify")
	defer span.End()
	sig, err := s.verifier.Verify(req.Header, req.Body)
	if err != nil {
		span.SetStatus(codes.Error, string(apierror.Of(err)))
		return sig, err
	}
	span.SetAttributes(
		attribute.String("callbackd.signature.scheme", sig.Scheme),
		attribute.String("callbackd.signature.key_name", sig.KeyName),
		attribute.Bool("callbackd.signature.valid", sig.Valid),
	)
	return sig, nil
}

// Rejections returns the most recent refused deliveries, newest first.
func (s *Service) Rejections() []Rejection { return s.rejected.list() }

// signatureHeadersPresent names the signature headers of a delivery.
func signatureHeadersPresent(h http.Header) []string {
	var names []string
	for _, name := range webhook.SignatureHeaders() {
		if h.Get(name) != "" {
			names = append(names, name)
		}
	}
	return names
}

// metrics are the ingest pipeline's Prometheus collectors.
type metrics struct {
	deliveries *prometheus.CounterVec
	latency    prometheus.Histogram
	bodyBytes  prometheus.Histogram
	// latencyExemplars is latency, which takes exemplars: the histograms
	// of client_golang do.
	latencyExemplars prometheus.ExemplarObserver
}

// observeLatency observes one delivery's latency, with its trace id as the
// exemplar when its span is sampled (so that a slow bucket leads to a
// trace; /metrics shows exemplars in the OpenMetrics format).
func (m *metrics) observeLatency(ctx context.Context, seconds float64) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() && m.latencyExemplars != nil {
		m.latencyExemplars.ObserveWithExemplar(seconds, prometheus.Labels{"trace_id": sc.TraceID().String()})
		return
	}
	m.latency.Observe(seconds)
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callbackd_deliveries_total",
			Help: "Webhook deliveries by outcome: stored, duplicate, or the rejection reason.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "callbackd_ingest_duration_seconds",
			Help:    "Time from receiving a delivery's body to answering it, commit included.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}),
		bodyBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "callbackd_delivery_body_bytes",
			Help:    "Sizes of received webhook bodies.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 8),
		}),
	}
	m.latencyExemplars, _ = m.latency.(prometheus.ExemplarObserver)
	for _, c := range []prometheus.Collector{m.deliveries, m.latency, m.bodyBytes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return m, nil
}
