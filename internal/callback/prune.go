package callback

import "time"

// PruneQuery selects callbacks to delete. A callback qualifies when it is
// older than Before (if set) or beyond the newest KeepNewest (if positive);
// and, unless IncludeUnviewed, only when some admin has viewed it. It is
// part of the domain's vocabulary, beside ListQuery, so that retention says
// what to prune without depending on the store that does it.
type PruneQuery struct {
	Before          time.Time
	KeepNewest      int
	IncludeUnviewed bool
	// Batch bounds the rows deleted by one call (one short transaction), so
	// pruning never holds locks that would delay ingestion.
	Batch int
	// After, if set, is the position (in oldest-first order) of the last
	// callback that the previous batch of the same run deleted: only
	// callbacks after it qualify. Each batch then starts its index walk
	// there instead of walking past every entry that the earlier batches
	// left dead in the index until vacuum removes them, which made pruning
	// quadratic (BENCHMARKS.md, "Issue 14").
	After *PageToken
}
