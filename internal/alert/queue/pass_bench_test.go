package queue_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/alert/queue"
	"github.com/callbackd/callbackd/internal/alert/rules"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// BenchmarkPass evaluates batches of the benchmark's mix (six in ten
// completed, three steps, one failure) with the 20 rules of
// testdata/rules20.yaml (BENCHMARKS.md, "Issue 18"), or those of the file
// $CALLBACKD_BENCH_RULES names: the evaluator's own cost per callback, to
// profile with -cpuprofile.
func BenchmarkPass(b *testing.B) {
	path := os.Getenv("CALLBACKD_BENCH_RULES")
	if path == "" {
		path = "testdata/rules20.yaml"
	}
	raw, err := os.ReadFile(path)
	require.NoError(b, err)
	cfg, err := rules.Parse(raw)
	require.NoError(b, err)
	for _, db := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		b.Run(db.name, func(b *testing.B) {
			st := db.open(b)
			ctx := context.Background()
			_, err := queue.Migrate(ctx, st.DB(), st.Dialect(), false)
			require.NoError(b, err)
			senders := map[string]queue.Sender{}
			for _, ch := range cfg.Channels {
				senders[ch.Name] = nopSender{}
			}
			q, err := queue.New(st.DB(), st.Dialect(), rules.NewEvaluator(cfg, "https://cb.example"), st, senders, queue.Config{Reads: st.ReadDB()}, nil)
			require.NoError(b, err)
			require.NoError(b, q.Start(ctx))
			const batch = 500
			events := []string{callback.EventWorkflowCompleted, callback.EventWorkflowCompleted, callback.EventWorkflowCompleted,
				callback.EventWorkflowCompleted, callback.EventWorkflowCompleted, callback.EventWorkflowCompleted,
				callback.EventStepCompleted, callback.EventStepCompleted, callback.EventStepCompleted, callback.EventWorkflowFailed}
			n := 0
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				var ds []callback.Delivery
				for range batch {
					ev := events[n%len(events)]
					step := ""
					if ev == callback.EventStepCompleted {
						step = "step-1"
					}
					ds = append(ds, storetest.Parsed(b, ev, fmt.Sprintf("job-%d", n), step, time.Now()))
					n++
				}
				_, err := st.Save(ctx, ds)
				require.NoError(b, err)
				b.StartTimer()
				for {
					more, err := q.Pass(ctx)
					require.NoError(b, err)
					if !more {
						break
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*batch), "µs/callback")
		})
	}
}

type nopSender struct{}

func (nopSender) Send(context.Context, rules.Notice) error { return nil }
