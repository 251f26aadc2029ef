package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/callback"
)

// ErrClosed is returned for deliveries submitted after Close.
var ErrClosed = apierror.New(apierror.Unavailable, "ingest: shutting down")

// Publisher learns about committed changes so that watchers can be told. It
// is called once per committed batch, after the commit, with the batch's
// results; it must not block for long.
type Publisher interface {
	Publish(results []callback.SaveResult)
}

// committer is application-level group commit. Concurrent deliveries queue
// up; each worker takes whatever is queued (up to maxBatch) and stores it in
// one transaction, then answers every delivery of the batch. A worker never
// waits for a batch to fill: a lone delivery is stored at once, and batches
// grow only because deliveries arrive while a commit is in flight. One commit
// per batch instead of one per delivery is what lifts throughput past the
// database's per-transaction cost.
//
// Traced, each batch is one span, "callbackd.commit": a new trace, since it
// belongs to no one delivery, with a link to the span of each delivery it
// stores; each delivery's span links back to it (see Service.Ingest).
type committer struct {
	store     callback.Store
	publisher Publisher
	queue     chan *pending
	maxBatch  int
	tracer    trace.Tracer // nil: tracing is off

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	wg     sync.WaitGroup
}

// pending is one delivery waiting for its batch to commit.
type pending struct {
	delivery callback.Delivery
	done     chan outcome // buffered: the worker never blocks on an absent caller
}

type outcome struct {
	result callback.SaveResult
	commit trace.SpanContext // the batch's span, when traced
	err    error
}

// newCommitter starts workers that commit batches of at most maxBatch
// deliveries. ctx is the lifetime of storage calls: it is not any one
// request's context, so a caller that gives up does not abort the batch it
// shares with others.
func newCommitter(ctx context.Context, store callback.Store, publisher Publisher, tracer trace.Tracer, workers, maxBatch int) *committer {
	c := &committer{
		store:     store,
		publisher: publisher,
		queue:     make(chan *pending, workers*maxBatch),
		maxBatch:  maxBatch,
		tracer:    tracer,
	}
	for range workers {
		c.wg.Add(1)
		go c.work(ctx)
	}
	return c
}

// submit queues d and waits until its batch has committed (or failed). It
// returns the batch's span too (zero when not traced).
func (c *committer) submit(ctx context.Context, d callback.Delivery) (callback.SaveResult, trace.SpanContext, error) {
	p := &pending{delivery: d, done: make(chan outcome, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return callback.SaveResult{}, trace.SpanContext{}, ErrClosed
	}
	select {
	case c.queue <- p:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return callback.SaveResult{}, trace.SpanContext{}, ctx.Err()
	}
	select {
	case o := <-p.done:
		return o.result, o.commit, o.err
	case <-ctx.Done():
		// The batch may still commit; the sender will redeliver and the
		// upsert will count it as a duplicate.
		return callback.SaveResult{}, trace.SpanContext{}, ctx.Err()
	}
}

// close stops accepting deliveries and waits until every queued one has been
// committed and answered.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.queue)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// work commits batches until the queue is closed and drained.
func (c *committer) work(ctx context.Context) {
	defer c.wg.Done()
	batch := make([]*pending, 0, c.maxBatch)
	for first := range c.queue {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < c.maxBatch {
			select {
			case p, ok := <-c.queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		c.commit(ctx, batch)
	}
}

// commit stores one batch and answers each of its deliveries.
func (c *committer) commit(ctx context.Context, batch []*pending) {
	deliveries := make([]callback.Delivery, len(batch))
	for i, p := range batch {
		deliveries[i] = p.delivery
	}
	if c.tracer != nil {
		var span trace.Span
		ctx, span = c.startCommitSpan(ctx, deliveries)
		defer span.End()
	}
	c.save(ctx, batch, deliveries)
}

// startCommitSpan starts the span of one batch: a root, linked to the span
// of each traced delivery of the batch. The SDK keeps at most 128 links a
// span by default (OTEL_SPAN_LINK_COUNT_LIMIT), the default batch size.
func (c *committer) startCommitSpan(ctx context.Context, deliveries []callback.Delivery) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, len(deliveries))
	for _, d := range deliveries {
		if d.Trace.IsValid() {
			links = append(links, trace.Link{SpanContext: d.Trace, Attributes: []attribute.KeyValue{attribute.String("callbackd.link", "delivery")}})
		}
	}
	return c.tracer.Start(ctx, "callbackd.commit",
		trace.WithNewRoot(),
		trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("callbackd.batch.size", len(deliveries))))
}

// save stores deliveries (those of batch, in order) in one transaction and
// answers them, then publishes what committed.
//
// One bad row must not fail the deliveries that happen to share its batch:
// when the database refuses the batch for a reason a retry cannot fix (a row
// it does not accept), save splits the batch in halves and saves each on its
// own, down to the single delivery that fails. A batch with one such row
// thus costs about 2·log2(n) more transactions, and only that delivery is
// answered with the error. The halves keep the batch's order, so the latest
// delivery of a key still wins. Errors a retry may fix (storage unavailable,
// the context ended) fail the whole batch as they are: every row would meet
// them, and the senders retry.
func (c *committer) save(ctx context.Context, batch []*pending, deliveries []callback.Delivery) {
	results, err := c.store.Save(ctx, deliveries)
	if err == nil && len(results) != len(batch) {
		err = fmt.Errorf("store returned %d results for %d deliveries", len(results), len(batch))
	}
	span := trace.SpanFromContext(ctx) // the batch's; non-recording when not traced
	if err != nil && len(batch) > 1 && rowLevel(err) {
		span.AddEvent("split", trace.WithAttributes(attribute.Int("callbackd.batch.size", len(batch)), attribute.String("error", spanText(err))))
		half := len(batch) / 2
		c.save(ctx, batch[:half], deliveries[:half])
		c.save(ctx, batch[half:], deliveries[half:])
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, spanText(err))
	}
	commit := span.SpanContext()
	for i, p := range batch {
		if err != nil {
			p.done <- outcome{err: err, commit: commit}
			continue
		}
		// The result leaves with the delivery's span, for the watchers.
		results[i].Trace = p.delivery.Trace
		p.done <- outcome{result: results[i], commit: commit}
	}
	if err == nil && c.publisher != nil {
		c.publisher.Publish(results)
	}
}

// spanText is an error's text as a span may carry it: valid UTF-8 and
// bounded, as every string that leaves the process.
func spanText(err error) string { return callback.StorableText(err.Error(), 512) }

// rowLevel reports whether a failed batch may owe its failure to one of its
// rows rather than to the database or the process, so that saving its parts
// apart can succeed.
func rowLevel(err error) bool {
	return !errors.Is(err, callback.ErrUnavailable) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
