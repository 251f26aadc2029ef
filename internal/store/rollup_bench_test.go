package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// BenchmarkStats30Days times GetCallbackStats's store read over 30 days in
// hourly buckets, on PostgreSQL, from the callbacks themselves and from
// the hourly rollups, on the same history: 30 days at the density of
// 2,000,000 callbacks in 90 days (22,222 a day, 666,666 in all), in jobs of
// three steps and a final callback (one job in eight fails, with one of
// eight error categories), 30 workflows of skewed shares. The rows are
// made by SQL (generate_series), not by ingest: only the columns Stats
// reads matter here. The rollup rows per hour, which bound the rollups'
// read, are reported as a metric: they depend on how many (workflow,
// status, event type, category) combinations an hour holds, not on the
// history's size, so a denser history (10,000,000 in 90 days) has at most
// the same.
//
//	go test ./internal/store -run '^$' -bench Stats30Days -benchtime 20x
func BenchmarkStats30Days(b *testing.B) {
	ctx := context.Background()
	s := storetest.OpenPostgres(b)
	const days, perDay = 30, 22_222
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	start := end.Add(-days * 24 * time.Hour)
	_, err := s.DB().ExecContext(ctx, `INSERT INTO llm_callbacks (id, callback_id, event_type, known_event, status, external_job_id,
	workflow_name, step_id, error_message, payload, payload_preview, user_agent, signature_valid, signature_scheme,
	signature_key_name, delivery_count, created_at, updated_at, last_delivery_at, seq, prompt_tokens, completion_tokens,
	total_tokens, cost_usd, duration_ms, error_category)
SELECT gen_random_uuid(), 'k' || i,
	CASE WHEN i % 4 < 3 THEN 'llm.step.completed' WHEN (i / 4) % 8 = 0 THEN 'workflow.failed' ELSE 'workflow.completed' END,
	true,
	CASE WHEN i % 4 < 3 THEN 'received' WHEN (i / 4) % 8 = 0 THEN 'error' ELSE 'processed' END,
	'job-' || (i / 4), 'workflow-' || floor(30 * power(((i / 4) * 7919 % 1000) / 1000.0, 2))::int,
	CASE WHEN i % 4 < 3 THEN 'step-' || (i % 4) ELSE '' END, '', '\x7b7d'::bytea, '{}', 'bench', true, 'llm-hmac-sha256', 'default', 1,
	$1::timestamptz + (i * interval '1 second' * $3::double precision), now(), now(), i,
	CASE WHEN i % 4 < 3 THEN 400 + i % 1000 END, CASE WHEN i % 4 < 3 THEN 100 + i % 300 END,
	CASE WHEN i % 4 < 3 THEN 500 + i % 1000 + i % 300 END, CASE WHEN i % 4 < 3 THEN (i % 100) / 10000.0 END,
	CASE WHEN i % 4 = 3 THEN 1000 + (i * 7919) % 120000 END,
	CASE WHEN i % 4 = 3 AND (i / 4) % 8 = 0 THEN 'category-' || ((i / 32) % 8) ELSE '' END
FROM generate_series(1, $2::bigint) i`, start, days*perDay, float64(days*24*3600)/float64(days*perDay))
	require.NoError(b, err)
	_, err = s.DB().ExecContext(ctx, "UPDATE feed_position SET seq = $1 WHERE id = 1", days*perDay)
	require.NoError(b, err)
	_, err = s.DB().ExecContext(ctx, "VACUUM ANALYZE llm_callbacks")
	require.NoError(b, err)
	for {
		p, err := s.RollUpStep(ctx, end.Add(time.Hour))
		require.NoError(b, err)
		if p.Hour.IsZero() {
			break
		}
	}
	_, err = s.DB().ExecContext(ctx, "VACUUM ANALYZE llm_callback_stats_hours")
	require.NoError(b, err)
	var rollupRows int
	require.NoError(b, s.DB().QueryRowContext(ctx, "SELECT count(*) FROM llm_callback_stats_hours").Scan(&rollupRows))

	q := callback.StatsQuery{Filter: callback.ListQuery{CreatedAfter: start.Add(-17 * time.Minute), CreatedBefore: end.Add(23 * time.Minute)}, Bucket: callback.BucketHour}
	var through time.Time
	require.NoError(b, s.DB().QueryRowContext(ctx, "SELECT through FROM llm_callback_stats_rollup").Scan(&through))
	want, err := s.Stats(ctx, q)
	require.NoError(b, err)
	require.Equal(b, int64(days*perDay), want.Total.Count)
	for _, mode := range []struct {
		name    string
		through any // the roll-up position during the run
	}{{"callbacks", nil}, {"rollups", through}} {
		b.Run(mode.name, func(b *testing.B) {
			_, err := s.DB().ExecContext(ctx, "UPDATE llm_callback_stats_rollup SET through = $1", mode.through)
			require.NoError(b, err)
			for b.Loop() {
				got, err := s.Stats(ctx, q)
				require.NoError(b, err)
				require.Equal(b, want.Total.Count, got.Total.Count)
			}
			b.ReportMetric(float64(rollupRows)/float64(days*24), "rollup-rows/hour")
		})
	}
}
