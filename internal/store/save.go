package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entschema "entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"

	"github.com/callbackd/callbackd/ent/llmcallback"
	"github.com/callbackd/callbackd/ent/migrate"
	"github.com/callbackd/callbackd/internal/callback"
)

// saveColumns are the columns Save writes: every column of llm_callbacks,
// as ent's schema (ent/schema/llmcallback.go) lists them, which is the one
// source of the table's columns. The migrations are checked against it
// (TestSchemaMatchesEnt), and rowArgs gives the values in this order
// (TestRowArgsFollowTheSchema).
var saveColumns = llmcallback.Columns

// saveConflict is what a delivery of an existing callback changes: the
// latest delivery's fields win, the count grows by the number of merged
// deliveries, and the row moves to its new change-feed position. id,
// callback_id and created_at stay.
//
// A delivery whose body is byte for byte the stored one changes only
// delivery_count, last_delivery_at, updated_at and seq. It is a replay: the
// LLM scheme signs no timestamp, so a captured delivery verifies forever,
// and whoever replays it must not rewrite the user agent or how and when the
// row was verified. (Every other column derives from the body, so it stays
// the same either way.) The comparison runs in the database; PostgreSQL
// compares the lengths before it reads a compressed value.
const saveConflict = ` ON CONFLICT (callback_id) DO UPDATE SET
	event_type = excluded.event_type,
	known_event = excluded.known_event,
	status = excluded.status,
	external_job_id = excluded.external_job_id,
	workflow_name = excluded.workflow_name,
	step_id = excluded.step_id,
	error_message = excluded.error_message,
	payload = excluded.payload,
	payload_preview = excluded.payload_preview,
	user_agent = CASE WHEN ` + sameBody + ` THEN llm_callbacks.user_agent ELSE excluded.user_agent END,
	signature_valid = CASE WHEN ` + sameBody + ` THEN llm_callbacks.signature_valid ELSE excluded.signature_valid END,
	signature_scheme = CASE WHEN ` + sameBody + ` THEN llm_callbacks.signature_scheme ELSE excluded.signature_scheme END,
	signature_key_name = CASE WHEN ` + sameBody + ` THEN llm_callbacks.signature_key_name ELSE excluded.signature_key_name END,
	verified_at = CASE WHEN ` + sameBody + ` THEN llm_callbacks.verified_at ELSE excluded.verified_at END,
	delivery_count = llm_callbacks.delivery_count + excluded.delivery_count,
	last_delivery_at = excluded.last_delivery_at,
	updated_at = excluded.updated_at,
	seq = excluded.seq,
	prompt_tokens = excluded.prompt_tokens,
	completion_tokens = excluded.completion_tokens,
	total_tokens = excluded.total_tokens,
	cost_usd = excluded.cost_usd,
	duration_ms = excluded.duration_ms,
	error_category = excluded.error_category
RETURNING id, callback_id, delivery_count, seq, created_at, updated_at`

// sameBody is the condition of a replay in saveConflict: the delivery's body
// is the stored one. In an UPDATE SET every expression reads the row as it
// was before the update, so the order of the assignments does not matter.
const sameBody = `llm_callbacks.payload = excluded.payload`

// searchConflict keeps a callback's search document in step with its latest
// body. A replay leaves it as it is, which spares FTS5 a delete and an
// insert of the same words.
const searchConflict = ` ON CONFLICT (callback_id) DO UPDATE SET document = excluded.document
	WHERE llm_callback_search.document <> excluded.document`

// saveChunk bounds the rows of one INSERT: 500 rows of 27 parameters stay
// below SQLite's 32766 and PostgreSQL's 65535 bind parameters.
const saveChunk = 500

// saveRow is the merge of the deliveries of one key in a batch.
type saveRow struct {
	id    uuid.UUID
	n     int                // deliveries merged
	last  *callback.Delivery // the latest delivery: its fields are stored
	first int                // index of the key's first delivery in the batch
	seq   int64
	// results of the upsert
	count     int
	createdAt time.Time // when the callback was first stored
}

// Save upserts deliveries in one transaction. See callback.Store.
//
// Text columns are stored by the rule of callback.Delivery.Storable, and a
// key that callback.ValidKey refuses fails the batch on both databases
// alike.
//
// The write is one multi-row INSERT ... ON CONFLICT DO UPDATE ... RETURNING
// per chunk, in raw SQL rather than ent's builders: it is the hot path of
// ingest, it must not read before writing (a read-then-write races with
// concurrent deliveries of the same key), and it is the same statement on
// both databases. Since one such statement cannot touch a row twice, the
// deliveries of each key are merged first.
func (s *Store) Save(ctx context.Context, deliveries []callback.Delivery) (_ []callback.SaveResult, err error) {
	if len(deliveries) == 0 {
		return nil, nil
	}
	defer func() {
		if err != nil {
			s.writeFailed(err)
			err = fmt.Errorf("save %d deliveries: %w", len(deliveries), classify(err))
		}
	}()
	var (
		rows  []*saveRow
		byKey = make(map[string]*saveRow)
	)
	// The column rule applies to what callers pass in too: a delivery that
	// did not come through ParsePayload is stored the same way on both
	// databases instead of failing on one of them. The caller's slice is
	// not modified.
	deliveries = slices.Clone(deliveries)
	for i := range deliveries {
		if deliveries[i].SearchText == "" {
			deliveries[i] = callback.Analyze(deliveries[i])
		}
		deliveries[i] = deliveries[i].Storable()
		deliveries[i].Facts.ErrorCategory = callback.StorableText(deliveries[i].Facts.ErrorCategory, callback.MaxErrorCategoryBytes)
		d := &deliveries[i]
		if !callback.ValidKey(d.Key) {
			return nil, fmt.Errorf("delivery %d: key %.64q (%d bytes) is not storable: want non-empty UTF-8 text without NUL, at most %d bytes", i, d.Key, len(d.Key), callback.MaxKeyBytes)
		}
		if !d.Status.Valid() {
			return nil, fmt.Errorf("delivery %d (%s): invalid status %q", i, d.Key, d.Status)
		}
		r := byKey[d.Key]
		if r == nil {
			// Time-ordered (version 7): consecutive callbacks get nearby
			// ids, so that the indexes keyed by a callback's id (its
			// primary key, the search table's, the views') take a batch's
			// rows on a few pages at their right edge, and a time window
			// of callbacks (MarkAllViewed, a prune) is a narrow range of
			// them, instead of one random page of a large index per row
			// (BENCHMARKS.md, "Issue 14").
			id, err := uuid.NewV7()
			if err != nil {
				return nil, fmt.Errorf("delivery %d (%s): make an id: %w", i, d.Key, err)
			}
			r = &saveRow{id: id, first: i}
			byKey[d.Key] = r
			rows = append(rows, r)
		}
		r.n++
		r.last = d
	}
	now := dbTime(s.now())
	if s.dialect == DialectPostgres && len(rows) <= saveChunk {
		err = s.upsertOneStatement(ctx, rows, deliveries, now, byKey)
	} else {
		err = s.upsertInTx(ctx, rows, deliveries, now, byKey)
	}
	if err != nil {
		return nil, err
	}

	results := make([]callback.SaveResult, len(deliveries))
	seen := make(map[string]int, len(rows)) // deliveries of the key so far
	for i, d := range deliveries {
		r := byKey[d.Key]
		seen[d.Key]++
		k := seen[d.Key]
		results[i] = callback.SaveResult{
			ID:  r.id,
			Key: d.Key,
			// The row was inserted by this batch iff its count is exactly
			// what the batch added; only the key's first delivery can then
			// be new.
			Duplicate:     k > 1 || r.count != r.n,
			DeliveryCount: r.count - r.n + k,
			Seq:           r.seq,
		}
	}
	return results, nil
}

// upsertInTx takes the rows' change-feed positions and upserts them in
// chunks, in one transaction.
func (s *Store) upsertInTx(ctx context.Context, rows []*saveRow, deliveries []callback.Delivery, now time.Time, byKey map[string]*saveRow) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	// The counter row stays locked until COMMIT; see advanceFeed.
	last, err := advanceFeed(ctx, tx, len(rows))
	if err != nil {
		return err
	}
	for i, r := range rows {
		r.seq = last - int64(len(rows)) + 1 + int64(i)
	}
	for start := 0; start < len(rows); start += saveChunk {
		chunk := rows[start:min(start+saveChunk, len(rows))]
		if err := s.upsert(ctx, tx, chunk, deliveries, now, byKey); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// pgColumnTypes are the PostgreSQL types of saveColumns, for the casts that
// a VALUES list inside INSERT ... SELECT needs, from ent's description of
// the table.
var pgColumnTypes = func() []string {
	types := make([]string, len(migrate.LlmCallbacksColumns))
	for i, c := range migrate.LlmCallbacksColumns {
		types[i] = pgType(c)
	}
	return types
}()

// pgType is the PostgreSQL type of one of ent's columns, as the migrations
// declare it.
func pgType(c *entschema.Column) string {
	if t, ok := c.SchemaType[dialect.Postgres]; ok {
		return t
	}
	switch c.Type {
	case field.TypeUUID:
		return "uuid"
	case field.TypeBool:
		return "boolean"
	case field.TypeBytes:
		return "bytea"
	case field.TypeTime:
		return "timestamptz"
	case field.TypeInt, field.TypeInt64:
		return "bigint"
	case field.TypeFloat64:
		return "double precision"
	}
	return "text"
}

// upsertOneStatement is upsertInTx in a single autocommitted statement on
// PostgreSQL: a data-modifying CTE advances the feed counter (locking it
// until the statement commits, so advanceFeed's invariant holds) and the
// INSERT takes its positions from it. One round trip instead of four
// (BEGIN, UPDATE, INSERT, COMMIT) shortens every batch and the time the
// counter lock is held, which is what bounds ingest throughput.
//
// Batches of up to maxPreparedRows rows use a prepared statement (see
// upsertStatements): parsing and planning a statement of 28 parameters per
// row took as long as executing and committing it.
func (s *Store) upsertOneStatement(ctx context.Context, rows []*saveRow, deliveries []callback.Delivery, now time.Time, byKey map[string]*saveRow) error {
	k := len(rows)
	slots := k
	if k <= maxPreparedRows {
		slots = preparedSlots(k)
	}
	width := len(saveColumns) + 1 // and the search document
	args := make([]any, 1, 1+slots*width)
	args[0] = k
	for i, r := range rows {
		r.seq = int64(i + 1) // ordinal until the database returns the position
		args = append(args, rowArgs(r, deliveries, now)...)
		args = append(args, r.last.SearchText)
	}
	args = append(args, make([]any, (slots-k)*width)...) // NULL rows, skipped
	var (
		rs  *sql.Rows
		err error
	)
	if slots <= maxPreparedRows {
		var stmt *sql.Stmt
		if stmt, err = s.upserts.get(ctx, s.db, slots); err == nil {
			rs, err = stmt.QueryContext(ctx, args...)
		}
	} else {
		rs, err = s.db.QueryContext(ctx, upsertOneStatementSQL(slots), args...)
	}
	if err != nil {
		return err
	}
	var first int64 // position of ordinal 1, the same for every row
	return readUpserted(rs, byKey, k, func(r *saveRow, seq int64) bool {
		if first == 0 {
			first = seq - r.seq + 1
		}
		return seq-r.seq+1 == first
	})
}

// upsertOneStatementSQL is the statement of upsertOneStatement for up to
// slots rows. $1 is the number of real rows; rows whose id is NULL are
// padding and skipped, so that a few prepared statements serve every batch
// size.
func upsertOneStatementSQL(slots int) string {
	var b strings.Builder
	b.WriteString("WITH v (" + strings.Join(saveColumns, ", ") + ", document) AS (VALUES ")
	writeValues(&b, slots, 1, func(n, col int) string {
		if col == len(saveColumns) {
			return fmt.Sprintf("$%d::text", n+1) // the search document
		}
		return fmt.Sprintf("$%d::%s", n+1, pgColumnTypes[col]) // $1 is the row count
	})
	b.WriteString("), pos AS (UPDATE feed_position SET seq = seq + $1::bigint WHERE id = 1 RETURNING seq), ")
	b.WriteString("up AS (INSERT INTO llm_callbacks (" + strings.Join(saveColumns, ", ") + ") SELECT ")
	for j, col := range saveColumns {
		if j > 0 {
			b.WriteString(", ")
		}
		if col == "seq" {
			// The row's ordinal (1..$1) in the reserved range.
			b.WriteString("pos.seq - $1::bigint + v.seq")
			continue
		}
		b.WriteString("v." + col)
	}
	b.WriteString(" FROM pos, v WHERE v.id IS NOT NULL")
	b.WriteString(saveConflict)
	b.WriteString("), search AS (INSERT INTO llm_callback_search (callback_id, document) ")
	b.WriteString("SELECT up.id, v.document FROM up JOIN v ON v.callback_id = up.callback_id")
	b.WriteString(searchConflict)
	// A delivery that changed a callback of an earlier hour marks the hour
	// stale for the statistics' roll-up (rollup.go), in this statement.
	b.WriteString("), stale AS (INSERT INTO llm_callback_stats_stale (hour) ")
	b.WriteString("SELECT DISTINCT date_trunc('hour', up.created_at, 'UTC') FROM up WHERE up.created_at < date_trunc('hour', up.updated_at, 'UTC')")
	b.WriteString(" ON CONFLICT DO NOTHING")
	b.WriteString(") SELECT id, callback_id, delivery_count, seq, created_at, updated_at FROM up")
	return b.String()
}

// maxPreparedRows is the largest batch that upsertOneStatement runs as a
// prepared statement. Batches stay this small at all but the highest rates,
// where a batch's parse cost is shared by many rows. Each prepared size
// costs every pooled connection a cached plan (about 100 KiB plus 20 KiB per
// row), so only the powers of two up to it are prepared: six statements,
// about 2 MiB of plans per connection at most.
const maxPreparedRows = 32

// preparedSlots is the prepared statement size that holds k rows: the next
// power of two.
func preparedSlots(k int) int {
	n := 1
	for n < k {
		n *= 2
	}
	return n
}

// upsertStatements are the prepared statements of upsertOneStatement, by
// number of row slots, prepared when first needed. database/sql prepares
// each again on every connection that runs it, and again after a
// connection is replaced.
type upsertStatements struct {
	mu    sync.Mutex
	stmts map[int]*sql.Stmt
}

// get returns the prepared statement for slots rows.
func (u *upsertStatements) get(ctx context.Context, db *sql.DB, slots int) (*sql.Stmt, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if stmt := u.stmts[slots]; stmt != nil {
		return stmt, nil
	}
	stmt, err := db.PrepareContext(ctx, upsertOneStatementSQL(slots))
	if err != nil {
		return nil, err
	}
	if u.stmts == nil {
		u.stmts = make(map[int]*sql.Stmt)
	}
	u.stmts[slots] = stmt
	return stmt, nil
}

// close releases every prepared statement.
func (u *upsertStatements) close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	var errs []error
	for _, stmt := range u.stmts {
		errs = append(errs, stmt.Close())
	}
	u.stmts = nil
	return errors.Join(errs...)
}

// readUpserted reads the RETURNING rows of an upsert of want rows into the
// rows of byKey (id, count and position), checking each returned position
// with accept.
func readUpserted(rs *sql.Rows, byKey map[string]*saveRow, want int, accept func(r *saveRow, seq int64) bool) error {
	defer rs.Close()
	returned := 0
	for rs.Next() {
		var (
			id                 uuid.UUID
			key                string
			count              int
			seq                int64
			created, updatedAt time.Time
		)
		if err := rs.Scan(&id, &key, &count, &seq, &created, &updatedAt); err != nil {
			return err
		}
		r := byKey[key]
		if r == nil || !accept(r, seq) {
			return fmt.Errorf("upsert returned unexpected row %q (seq %d)", key, seq)
		}
		r.id, r.count, r.seq, r.createdAt = id, count, seq, created
		returned++
	}
	if err := rs.Err(); err != nil {
		return err
	}
	if returned != want {
		return fmt.Errorf("upsert of %d rows returned %d", want, returned)
	}
	return nil
}

// rowArgs are the values of saveColumns for one merged row.
func rowArgs(r *saveRow, deliveries []callback.Delivery, now time.Time) []any {
	d := r.last
	payload := d.Payload
	if payload == nil {
		payload = []byte{} // NOT NULL: an empty body is still a body
	}
	var verifiedAt any
	if !d.Signature.VerifiedAt.IsZero() {
		verifiedAt = dbTime(d.Signature.VerifiedAt)
	}
	f := d.Facts
	return []any{
		r.id, d.Key, d.EventType, d.KnownEvent, string(d.Status),
		d.ExternalJobID, d.WorkflowName, d.StepID, d.ErrorMessage,
		payload, d.PayloadPreview, d.UserAgent,
		d.Signature.Valid, d.Signature.Scheme, d.Signature.KeyName, verifiedAt,
		r.n, receivedAt(deliveries[r.first], now), now, receivedAt(*d, now), r.seq,
		nullable(f.PromptTokens), nullable(f.CompletionTokens), nullable(f.TotalTokens),
		nullable(f.CostUSD), nullable(f.DurationMS), f.ErrorCategory,
	}
}

// nullable is *v as a bind parameter: NULL for nil.
func nullable[T any](v *T) any {
	if v == nil {
		return nil
	}
	return *v
}

// upsert writes one chunk of merged rows and records what the database
// returned in the rows of byKey.
func (s *Store) upsert(ctx context.Context, tx *sql.Tx, chunk []*saveRow, deliveries []callback.Delivery, now time.Time, byKey map[string]*saveRow) error {
	var (
		b    strings.Builder
		args = make([]any, 0, len(chunk)*len(saveColumns))
	)
	b.WriteString("INSERT INTO llm_callbacks (" + strings.Join(saveColumns, ", ") + ") VALUES ")
	writeValues(&b, len(chunk), 0, func(n, _ int) string { return s.placeholder(n) })
	for _, r := range chunk {
		args = append(args, rowArgs(r, deliveries, now)...)
	}
	b.WriteString(saveConflict)
	rs, err := tx.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return err
	}
	if err := readUpserted(rs, byKey, len(chunk), func(r *saveRow, seq int64) bool { return seq == r.seq }); err != nil {
		return err
	}
	// As upsertOneStatementSQL's stale CTE: a delivery that changed a
	// callback of an earlier hour marks the hour stale, in this transaction.
	var earlier []time.Time
	for _, r := range chunk {
		if r.createdAt.Before(now.Truncate(time.Hour)) {
			earlier = append(earlier, r.createdAt)
		}
	}
	if err := s.markStale(ctx, tx, earlier); err != nil {
		return err
	}
	// The search documents, under the ids the upsert returned (an existing
	// callback keeps its id).
	b.Reset()
	args = args[:0]
	b.WriteString("INSERT INTO llm_callback_search (callback_id, document) VALUES ")
	for i, r := range chunk {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + s.placeholder(2*i+1) + ", " + s.placeholder(2*i+2) + ")")
		args = append(args, r.id, r.last.SearchText)
	}
	b.WriteString(searchConflict)
	_, err = tx.ExecContext(ctx, b.String(), args...)
	return err
}

// writeValues writes the tuples of a VALUES list of rows rows of
// saveColumns and extra more columns: param(n, col) is the n-th (1-based)
// parameter overall, the value of column col (len(saveColumns) and up for
// the extra ones).
func writeValues(b *strings.Builder, rows, extra int, param func(n, col int) string) {
	width := len(saveColumns) + extra
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range width {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(param(i*width+j+1, j))
		}
		b.WriteByte(')')
	}
}

// receivedAt is when d arrived, or now if the caller did not say.
func receivedAt(d callback.Delivery, now time.Time) time.Time {
	if d.ReceivedAt.IsZero() {
		return now
	}
	return dbTime(d.ReceivedAt)
}

// advanceFeed reserves k change-feed positions and returns the highest;
// the caller uses last-k+1 .. last.
//
// Invariant: when an entry with Seq n is visible, every entry with a
// smaller Seq has committed. It holds because the UPDATE locks the single
// feed_position row until the transaction ends: a transaction that takes
// positions waits for the previous taker to commit or roll back (a
// rollback returns its positions), so positions are committed in the order
// they are taken, on PostgreSQL with concurrent transactions and several
// processes as on SQLite with its single writer. Watchers resuming from a
// Seq cursor rely on it. Take it as late as possible in a transaction: it
// serialises every writer from that point to COMMIT.
func advanceFeed(ctx context.Context, tx *sql.Tx, k int) (int64, error) {
	var last int64
	// No placeholder: k is an int, and the statement stays the same text
	// on both dialects.
	q := fmt.Sprintf("UPDATE feed_position SET seq = seq + %d WHERE id = 1 RETURNING seq", k)
	if err := tx.QueryRowContext(ctx, q).Scan(&last); err != nil {
		return 0, fmt.Errorf("advance change feed: %w", err)
	}
	return last, nil
}
