// Package retention prunes old callbacks in the background: by age and/or
// by count, in small batches so that pruning never holds locks long enough
// to delay ingestion, and never a callback that no admin has viewed unless
// configured to.
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callbackd/callbackd/internal/callback"
)

// batchSize is the most callbacks one prune transaction deletes.
const batchSize = 500

// Pruner deletes the callbacks a query selects, at most q.Batch per call,
// oldest first, and returns how many it deleted and the position of the
// last (nil when none). It is what a Runner needs from the store
// (store.Store implements it); retention depends on this interface, never
// on the store package.
type Pruner interface {
	Prune(ctx context.Context, q callback.PruneQuery) (int, *callback.PageToken, error)
}

// Policy says what to prune. The zero Policy prunes nothing.
type Policy struct {
	MaxAge          time.Duration // 0: no age limit
	MaxRows         int           // 0: no count limit
	IncludeUnviewed bool          // also prune callbacks no admin has viewed
	Interval        time.Duration // time between runs
}

// Enabled reports whether the policy prunes anything.
func (p Policy) Enabled() bool { return p.MaxAge > 0 || p.MaxRows > 0 }

// Runner prunes on a timer. Build it with New.
type Runner struct {
	policy  Policy
	store   Pruner
	log     *slog.Logger
	now     func() time.Time
	runs    *prometheus.CounterVec
	deleted prometheus.Counter
}

// New returns a Runner; its metrics are registered on reg.
func New(policy Policy, st Pruner, log *slog.Logger, reg prometheus.Registerer) (*Runner, error) {
	if policy.MaxAge < 0 || policy.MaxRows < 0 {
		return nil, fmt.Errorf("retention: negative limit")
	}
	if policy.Interval <= 0 {
		policy.Interval = time.Minute
	}
	r := &Runner{
		policy: policy, store: st, log: log, now: time.Now,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callbackd_prune_runs_total", Help: "Retention runs, by result (ok, error).",
		}, []string{"result"}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callbackd_pruned_callbacks_total", Help: "Callbacks deleted by retention.",
		}),
	}
	for _, c := range []prometheus.Collector{r.runs, r.deleted} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register retention metrics: %w", err)
		}
	}
	return r, nil
}

// Run prunes every Interval until ctx ends. With a disabled policy it only
// waits.
func (r *Runner) Run(ctx context.Context) error {
	if !r.policy.Enabled() {
		<-ctx.Done()
		return nil
	}
	ticker := time.NewTicker(r.policy.Interval)
	defer ticker.Stop()
	for {
		if n, err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("retention: prune failed", "err", err, "deleted", n)
		} else if n > 0 {
			r.log.Info("retention: pruned callbacks", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Once prunes everything the policy selects now, batch by batch, and
// returns how many callbacks it deleted.
func (r *Runner) Once(ctx context.Context) (int, error) {
	q := callback.PruneQuery{KeepNewest: r.policy.MaxRows, IncludeUnviewed: r.policy.IncludeUnviewed, Batch: batchSize}
	if r.policy.MaxAge > 0 {
		q.Before = r.now().Add(-r.policy.MaxAge)
	}
	total := 0
	for {
		// Each batch continues after the last one (callback.PruneQuery.After).
		n, last, err := r.store.Prune(ctx, q)
		q.After = last
		total += n
		r.deleted.Add(float64(n))
		if err != nil {
			r.runs.WithLabelValues("error").Inc()
			return total, err
		}
		if n < batchSize {
			r.runs.WithLabelValues("ok").Inc()
			return total, nil
		}
	}
}
