// Package callback is the domain of callbackd: what a stored callback is, how
// a delivery becomes one, and the storage contract every database
// implementation satisfies. It knows nothing of transports (gRPC, Connect,
// REST) or of any particular database.
package callback

import (
	"context"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbackd/callbackd/internal/apierror"
)

// Status is the processing state of a callback, shown as a colour-coded badge.
type Status string

// The statuses of SPEC.md.
const (
	StatusReceived  Status = "received"  // blue: stored, nothing final yet
	StatusProcessed Status = "processed" // green: the job completed
	StatusError     Status = "error"     // red: the job failed
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusReceived, StatusProcessed, StatusError:
		return true
	}
	return false
}

// Signature records how a delivery was authenticated. It never holds the
// signature bytes or the secret: only which scheme and which configured
// secret (by name) verified it.
type Signature struct {
	Valid      bool      // false only for unsigned callbacks accepted in experiment mode
	Scheme     string    // e.g. "llm-hmac-sha256", "standard-webhooks", "github", "stripe", "unsigned"
	KeyName    string    // name of the configured secret that matched
	VerifiedAt time.Time // when the delivery was verified
}

// Delivery is one verified delivery of a callback, ready to be stored. Several
// deliveries with the same Key are one logical callback.
type Delivery struct {
	Key            string // idempotency key: job_id:event or job_id:event:step_id
	EventType      string
	KnownEvent     bool
	Status         Status
	ExternalJobID  string
	WorkflowName   string
	StepID         string
	ErrorMessage   string
	Payload        []byte // the exact bytes received
	PayloadPreview string
	UserAgent      string
	Signature      Signature
	ReceivedAt     time.Time
	// Facts are the payload's figures (ParsePayload or Analyze).
	Facts Facts
	// SearchText is the search document (SearchDocument); Save derives it
	// and Facts with Analyze when it is empty.
	SearchText string
	// Trace is the span of this delivery's ingest when it is traced; the
	// commit links to it. It is telemetry, never stored.
	Trace trace.SpanContext
}

// Callback is one stored logical callback. Redeliveries update it: the latest
// body is kept, DeliveryCount and LastDeliveryAt record the rest.
type Callback struct {
	ID             uuid.UUID
	Key            string
	EventType      string
	KnownEvent     bool
	Status         Status
	ExternalJobID  string
	WorkflowName   string
	StepID         string
	ErrorMessage   string
	Payload        []byte // empty in lists and feeds; filled by Get
	PayloadPreview string
	UserAgent      string
	Signature      Signature
	DeliveryCount  int
	CreatedAt      time.Time // first delivery stored
	UpdatedAt      time.Time // last change of the row
	LastDeliveryAt time.Time // latest delivery stored
	// Seq is the row's position in the change feed: it is reassigned on every
	// delivery, so a redelivery appears again after the cursors that saw the
	// first one.
	Seq int64
	// ViewedByMe is set by reads made on behalf of an admin.
	ViewedByMe bool
	// Views is filled by Get only.
	Views []View
}

// View records that an admin opened a callback. Only the first view of each
// admin is kept.
type View struct {
	CallbackID uuid.UUID
	AdminID    uuid.UUID
	AdminName  string
	ViewedAt   time.Time
	Seq        int64 // position in the change feed
}

// SaveResult says what storing one delivery did.
type SaveResult struct {
	ID            uuid.UUID
	Key           string
	Duplicate     bool // the logical callback existed before this delivery
	DeliveryCount int
	Seq           int64
	// Trace is the span of the delivery that made this result, when it was
	// traced: the ingest pipeline sets it after Save (a store never does),
	// so that watchers can link the change to the delivery.
	Trace trace.SpanContext
}

// ListQuery selects a page of callbacks, newest first. Zero fields do not filter.
type ListQuery struct {
	Viewer        uuid.UUID // the admin asking, for ViewedByMe and UnviewedOnly
	Status        Status
	EventType     string
	WorkflowName  string
	ExternalJobID string
	CreatedAfter  time.Time // inclusive
	CreatedBefore time.Time // exclusive
	UnviewedOnly  bool
	// Query is a search in the syntax of ParseQuery: every term must match.
	Query    string
	PageSize int        // 1..MaxPageSize
	After    *PageToken // nil for the first page
}

// PageToken is a keyset position in the newest-first order (created_at DESC,
// id DESC). Keyset pagination stays correct while callbacks keep arriving:
// new rows sort before the first page and never shift later pages.
type PageToken struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// Page is one page of callbacks.
type Page struct {
	Callbacks []Callback
	Next      *PageToken // nil on the last page
}

// ChangeKind says what a change-feed entry records.
type ChangeKind int

// The kinds of change-feed entries.
const (
	ChangeReceived    ChangeKind = iota + 1 // first delivery of a callback
	ChangeRedelivered                       // a later delivery of a callback
	ChangeViewed                            // an admin's first view of a callback
	ChangeViewedMany                        // an admin marked many callbacks viewed at once
)

// Change is one entry of the change feed, in Seq order.
type Change struct {
	Seq      int64
	Kind     ChangeKind
	Callback *Callback  // for ChangeReceived and ChangeRedelivered (no payload)
	View     *View      // for ChangeViewed
	Batch    *ViewBatch // for ChangeViewedMany
	// Trace is the span of the delivery that made this change, when it was
	// traced and this process heard of it (see FeedTrace); zero otherwise.
	Trace trace.SpanContext
}

// FeedTrace ties a change-feed position to the span of the delivery that
// made it. Trace context is telemetry, not data: it lives in memory and in
// the notifications between replicas, never in the database, so a change
// read after a restart, or one whose notification was lost, has none.
type FeedTrace struct {
	Seq  int64
	Span trace.SpanContext
}

// ViewBatch records one MarkAllViewed that viewed callbacks: the change
// feed holds one entry for all of them, and their views have no Seq.
type ViewBatch struct {
	AdminID   uuid.UUID
	AdminName string
	ViewedAt  time.Time
	Count     int64 // callbacks newly viewed
	Seq       int64 // position in the change feed; 0 when Count is 0
}

// Count is the number of callbacks matching a filter.
type Count struct {
	N int64
	// Estimate says that N is an estimate: the exact count stops at
	// CountBound.
	Estimate bool
}

// CountBound is the number up to which Store.Count counts exactly.
const CountBound = 10000

// Bucket is the width of the time buckets of statistics.
type Bucket int

// The widths of buckets, in UTC.
const (
	BucketHour Bucket = iota
	BucketMinute
	BucketDay
)

// Duration is the width of b.
func (b Bucket) Duration() time.Duration {
	switch b {
	case BucketMinute:
		return time.Minute
	case BucketDay:
		return 24 * time.Hour
	}
	return time.Hour
}

// MaxStatsBuckets bounds the buckets of a statistics range: a week of
// minutes.
const MaxStatsBuckets = 7 * 24 * 60

// StatsQuery selects the callbacks that Store.Stats summarises: Filter's
// filters (its paging and UnviewedOnly are ignored), in buckets of Bucket.
// Filter.CreatedAfter and CreatedBefore bound the range.
type StatsQuery struct {
	Filter ListQuery
	Bucket Bucket
}

// Stats summarises a set of callbacks. Tokens and cost are summed over
// every callback but workflow.completed ones, whose cost_data restates the
// figures of their steps; durations are those of finished workflows
// (workflow.completed, workflow.failed) that report one, and the
// percentiles are nearest-rank.
type Stats struct {
	Count              int64
	ByStatus           map[Status]int64
	ByEventType        map[string]int64
	FailuresByCategory map[string]int64 // callbacks in status error, by error category
	PromptTokens       int64
	CompletionTokens   int64
	TotalTokens        int64
	CostUSD            float64
	DurationCount      int64
	DurationP50MS      int64
	DurationP95MS      int64
}

// BucketStats is the summary of one time bucket.
type BucketStats struct {
	Start time.Time
	Stats Stats
}

// WorkflowStats is the summary of one workflow.
type WorkflowStats struct {
	WorkflowName string
	Stats        Stats
}

// StatsReport is what Store.Stats returns: the non-empty buckets, oldest
// first; the workflows, by name; the total.
type StatsReport struct {
	Buckets   []BucketStats
	Workflows []WorkflowStats
	Total     Stats
	// DurationsEstimated says that the duration percentiles come from
	// histograms (within 1.1 % of the duration of their rank), as they do
	// for a range of more than CountBound callbacks that rollups serve.
	DurationsEstimated bool
}

// Limits of list and feed reads.
const (
	DefaultPageSize = 25
	MaxPageSize     = 100
)

// Errors of the domain. Their reasons decide their status codes
// (package apierror).
var (
	ErrNotFound = apierror.New(apierror.NotFound, "callback not found")
	// ErrBadQuery is a search query that ParseQuery refuses.
	ErrBadQuery = apierror.New(apierror.InvalidQuery, "bad search query")
	// ErrUnavailable wraps storage failures that a retry may fix (database
	// down, disk full, read-only file). Ingest answers them with a retryable
	// status so that the sender tries again.
	ErrUnavailable = apierror.New(apierror.Unavailable, "storage unavailable")
)

// Store keeps callbacks and their views. Implementations are tested by one
// shared conformance suite (package internal/store/storetest) against SQLite and
// PostgreSQL.
type Store interface {
	// Save upserts a batch of deliveries in one transaction and returns one
	// result per delivery, in order. Deliveries with the same Key, in the batch
	// or across concurrent calls, become one row whose delivery count grows by
	// the number of deliveries; the latest body wins, except that a delivery
	// whose body is byte for byte the stored one (a replay) changes only the
	// delivery count, the delivery time and the feed position. Text fields are
	// stored by the rule of Delivery.Storable, payloads exactly; a batch with
	// a key that ValidKey refuses fails as a whole, on every implementation.
	// Save returns only after the transaction has committed durably.
	Save(ctx context.Context, deliveries []Delivery) ([]SaveResult, error)
	// Get returns one callback with its payload and views; ViewedByMe is
	// computed for viewer. It returns ErrNotFound for an unknown id.
	//
	// Get, List and Changes never fail because of what a row holds: text
	// that is not valid UTF-8 reads with U+FFFD in place of the bad bytes
	// (StorableText without a limit).
	Get(ctx context.Context, id uuid.UUID, viewer uuid.UUID) (Callback, error)
	// List returns one page of callbacks, newest first. Its text filters
	// compare by the column rule (ListQuery.Storable).
	List(ctx context.Context, q ListQuery) (Page, error)
	// MarkViewed records the admin's view of a callback and returns it. It is
	// idempotent: the first ViewedAt is kept, and created reports whether this
	// call recorded it. It returns ErrNotFound for an unknown callback.
	MarkViewed(ctx context.Context, id, admin uuid.UUID, adminName string, at time.Time) (v View, created bool, err error)
	// Changes returns at most limit change-feed entries with Seq > after, in
	// Seq order. Seq values become visible in order: when an entry with Seq n
	// is visible, every entry with a smaller Seq has committed too.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	// Count counts the callbacks that List would return for q (all pages):
	// exactly up to CountBound, then possibly an estimate, flagged.
	Count(ctx context.Context, q ListQuery) (Count, error)
	// Stats summarises the callbacks of a range (see StatsQuery, Stats).
	Stats(ctx context.Context, q StatsQuery) (StatsReport, error)
	// MarkAllViewed records the admin's view of every callback matching
	// q's filters (paging and UnviewedOnly ignored) that existed when it
	// started, in bounded batches, and appends one ChangeViewedMany entry
	// to the change feed when it viewed any. It is idempotent: callbacks
	// already viewed by the admin keep their first view and are not
	// counted.
	MarkAllViewed(ctx context.Context, q ListQuery, admin uuid.UUID, adminName string, at time.Time) (ViewBatch, error)
	// LastSeq returns the highest committed Seq (0 when empty).
	LastSeq(ctx context.Context) (int64, error)
	// Ping checks that the database answers, for readiness.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}
