package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/callbackd/callbackd/ent/llmcallback"
)

// chunkRows is how many callbacks one generation task builds: a multiple of
// jobEvents, so that a job never spans two tasks' views of it.
const chunkRows = 4096

// chunk is the rows of one generation task, in order.
type chunk struct {
	rows []Row
	err  error
}

// generate builds the rows of h on all CPUs and hands them to write in
// order, chunk by chunk, with at most a few chunks in memory.
func generate(ctx context.Context, h History, write func([]Row) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := (h.N + chunkRows - 1) / chunkRows
	workers := runtime.NumCPU()
	slots := make([]chan chunk, chunks)
	for k := range slots {
		slots[k] = make(chan chunk, 1)
	}
	next := make(chan int)
	sem := make(chan struct{}, 2*workers) // chunks built and not yet written
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for k := range next {
				lo, hi := k*chunkRows, min((k+1)*chunkRows, h.N)
				c := chunk{rows: make([]Row, 0, hi-lo)}
				for i := lo; i < hi && c.err == nil; i++ {
					r, err := h.Row(i)
					c.rows, c.err = append(c.rows, r), err
				}
				slots[k] <- c
			}
		})
	}
	go func() {
		defer close(next)
		for k := range chunks {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			next <- k
		}
	}()
	defer wg.Wait()
	for k := range chunks {
		var c chunk
		select {
		case c = <-slots[k]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-sem
		if c.err != nil {
			return c.err
		}
		if err := write(c.rows); err != nil {
			return err
		}
	}
	return nil
}

// seedMarker is what a complete seed of h leaves on the database (as its
// comment on PostgreSQL, in a file beside it on SQLite), so that -reuse can
// tell a finished seed of the same history from anything else.
func seedMarker(h History) string {
	return fmt.Sprintf("historyload seed n=%d seed=%d start=%s span=%s complete", h.N, h.Seed, h.Start.Format(time.RFC3339), h.Span)
}

// migrate brings the database's schema up to date with the server binary's
// own migrations (`callbackd migrate up`), so the seeded schema is exactly
// the product's.
func migrate(ctx context.Context, bin string, db *Database) error {
	cmd := exec.CommandContext(ctx, bin, "migrate", "up", "--data-dir="+db.Dir)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+db.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("callbackd migrate up: %w: %s", err, out)
	}
	return nil
}

// callbackColumns are the columns of llm_callbacks the seed writes: every
// column, as ent's schema lists them (store.Save writes the same list), in
// the order of callbackArgs.
var callbackColumns = llmcallback.Columns

// callbackArgs are the values of callbackColumns for r, as store.Save binds
// them.
func callbackArgs(r *Row) []any {
	d, f := &r.D, r.D.Facts
	return []any{
		r.ID, d.Key, d.EventType, d.KnownEvent, string(d.Status),
		d.ExternalJobID, d.WorkflowName, d.StepID, d.ErrorMessage,
		d.Payload, d.PayloadPreview, d.UserAgent,
		d.Signature.Valid, d.Signature.Scheme, d.Signature.KeyName, d.Signature.VerifiedAt,
		r.DeliveryCount, r.CreatedAt, r.LastDeliveryAt, r.LastDeliveryAt, r.Seq,
		nullable(f.PromptTokens), nullable(f.CompletionTokens), nullable(f.TotalTokens),
		nullable(f.CostUSD), nullable(f.DurationMS), f.ErrorCategory,
	}
}

// dropAndRemake reads (index name, definition) rows, closing them, into the
// statements that drop those indexes and those that make them again.
func dropAndRemake(rows *sql.Rows) (drops, remakes []string, err error) {
	defer rows.Close()
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, nil, err
		}
		drops = append(drops, "DROP INDEX "+name)
		remakes = append(remakes, def)
	}
	return drops, remakes, rows.Err()
}

// tableRows splits generated rows into the rows of llm_callbacks,
// llm_callback_search and llm_callback_views, numbering the views' feed
// positions on from *viewSeq.
func tableRows(rs []Row, viewSeq *int64) (cbs, docs, views [][]any) {
	cbs, docs, views = make([][]any, 0, len(rs)), make([][]any, 0, len(rs)), make([][]any, 0, 2*len(rs))
	for i := range rs {
		r := &rs[i]
		cbs = append(cbs, callbackArgs(r))
		docs = append(docs, []any{r.ID, r.D.SearchText})
		for _, v := range r.Views {
			*viewSeq++
			views = append(views, []any{r.ID, v.AdminID, v.AdminName, v.ViewedAt, *viewSeq})
		}
	}
	return cbs, docs, views
}

// nullable is *v as a bind parameter: NULL for nil.
func nullable[T any](v *T) any {
	if v == nil {
		return nil
	}
	return *v
}

// viewColumns are the columns of llm_callback_views the seed writes.
var viewColumns = []string{"callback_id", "admin_user_id", "admin_name", "viewed_at", "seq"}

// seedStats is what seeding did.
type seedStats struct {
	Callbacks int64         `json:"callbacks"`
	Views     int64         `json:"views"`
	Load      time.Duration `json:"load_ns"`  // generating and loading rows
	Index     time.Duration `json:"index_ns"` // indexes, constraints, statistics
}

// Rate is callbacks per second over the whole seed.
func (s seedStats) Rate() float64 {
	t := (s.Load + s.Index).Seconds()
	if t == 0 {
		return 0
	}
	return float64(s.Callbacks) / t
}

// seedPostgres loads h into the freshly migrated PostgreSQL database at url
// with COPY: the secondary indexes and foreign keys are dropped first and
// made again after, which builds each index once instead of updating it
// ten million times; their definitions are read from the catalog, so the
// schema ends up exactly as migrated.
func seedPostgres(ctx context.Context, url string, h History) (seedStats, error) {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return seedStats{}, err
	}
	defer db.Close()
	tables := `('llm_callbacks'::regclass, 'llm_callback_views'::regclass, 'llm_callback_search'::regclass)`
	var constraints []string // statements that make them again
	rows, err := db.QueryContext(ctx, `SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
		FROM pg_index i WHERE i.indrelid IN `+tables+` AND NOT i.indisprimary`)
	if err != nil {
		return seedStats{}, err
	}
	drops, indexes, err := dropAndRemake(rows)
	if err != nil {
		return seedStats{}, err
	}
	rows, err = db.QueryContext(ctx, `SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
		FROM pg_constraint WHERE contype = 'f' AND conrelid IN `+tables)
	if err != nil {
		return seedStats{}, err
	}
	var fkDrops []string
	for rows.Next() {
		var table, name, def string
		if err := rows.Scan(&table, &name, &def); err != nil {
			return seedStats{}, err
		}
		fkDrops = append(fkDrops, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", table, pq.QuoteIdentifier(name)))
		constraints = append(constraints, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", table, pq.QuoteIdentifier(name), def))
	}
	if err := rows.Err(); err != nil {
		return seedStats{}, err
	}
	for _, stmt := range append(fkDrops, drops...) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return seedStats{}, fmt.Errorf("%s: %w", stmt, err)
		}
	}

	// One COPY per table, each on its own connection and transaction, fed
	// in the generator's order.
	begin := time.Now()
	copies := []*copier{
		newCopier(ctx, db, "llm_callbacks", callbackColumns),
		newCopier(ctx, db, "llm_callback_search", []string{"callback_id", "document"}),
		newCopier(ctx, db, "llm_callback_views", viewColumns),
	}
	var st seedStats
	viewSeq := int64(h.N)
	lastReport := time.Now()
	err = generate(ctx, h, func(rs []Row) error {
		cbs, docs, views := tableRows(rs, &viewSeq)
		st.Callbacks += int64(len(rs))
		st.Views += int64(len(views))
		for i, rows := range [][][]any{cbs, docs, views} {
			if err := copies[i].send(ctx, rows); err != nil {
				return err
			}
		}
		if time.Since(lastReport) > 30*time.Second {
			lastReport = time.Now()
			progress("seeded %d of %d callbacks (%.0f/s)", st.Callbacks, h.N, float64(st.Callbacks)/time.Since(begin).Seconds())
		}
		return nil
	})
	var errs []error
	for _, c := range copies {
		errs = append(errs, c.finish(err == nil))
	}
	if err := errors.Join(append([]error{err}, errs...)...); err != nil {
		return st, err
	}
	st.Load = time.Since(begin)
	progress("loaded %d callbacks, %d views in %v; building indexes", st.Callbacks, st.Views, st.Load.Round(time.Second))

	begin = time.Now()
	// Two index builds at a time, one per core; the trigram index is the
	// longest, so it starts first.
	for i, def := range indexes {
		if strings.Contains(def, "gin") {
			indexes[0], indexes[i] = indexes[i], indexes[0]
		}
	}
	work := make(chan string)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ierr []error
	)
	for range 2 {
		wg.Go(func() {
			conn, err := db.Conn(ctx)
			if err != nil {
				mu.Lock()
				ierr = append(ierr, err)
				mu.Unlock()
				for range work {
				}
				return
			}
			defer conn.Close()
			_, _ = conn.ExecContext(ctx, "SET maintenance_work_mem = '2GB'")
			for def := range work {
				t := time.Now()
				if _, err := conn.ExecContext(ctx, def); err != nil {
					mu.Lock()
					ierr = append(ierr, fmt.Errorf("%s: %w", def, err))
					mu.Unlock()
					continue
				}
				progress("  %s: %v", def, time.Since(t).Round(time.Second))
			}
		})
	}
	for _, def := range indexes {
		work <- def
	}
	close(work)
	wg.Wait()
	if err := errors.Join(ierr...); err != nil {
		return st, err
	}
	for _, stmt := range append(constraints,
		fmt.Sprintf("UPDATE feed_position SET seq = %d WHERE id = 1", viewSeq),
		"VACUUM ANALYZE llm_callbacks", "VACUUM ANALYZE llm_callback_views", "VACUUM ANALYZE llm_callback_search",
	) {
		t := time.Now()
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return st, fmt.Errorf("%s: %w", stmt, err)
		}
		progress("  %s: %v", benchTruncate(stmt, 80), time.Since(t).Round(time.Second))
	}
	st.Index = time.Since(begin)
	return st, nil
}

// copier streams rows into one table with COPY in its own transaction.
type copier struct {
	rows chan [][]any
	done chan error
	ok   chan bool
}

// newCopier starts a COPY into table on a connection of db.
func newCopier(ctx context.Context, db *sql.DB, table string, columns []string) *copier {
	c := &copier{rows: make(chan [][]any, 4), done: make(chan error, 1), ok: make(chan bool, 1)}
	go func() {
		c.done <- func() (err error) {
			defer func() {
				for range c.rows { // let the generator finish whatever happened here
				}
			}()
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer func() {
				if err != nil {
					tx.Rollback()
				}
			}()
			stmt, err := tx.PrepareContext(ctx, pq.CopyIn(table, columns...))
			if err != nil {
				return fmt.Errorf("copy into %s: %w", table, err)
			}
			for batch := range c.rows {
				for _, r := range batch {
					if _, err := stmt.ExecContext(ctx, r...); err != nil {
						return fmt.Errorf("copy into %s: %w", table, err)
					}
				}
			}
			if _, err := stmt.ExecContext(ctx); err != nil {
				return fmt.Errorf("copy into %s: %w", table, err)
			}
			if err := stmt.Close(); err != nil {
				return err
			}
			if !<-c.ok {
				return tx.Rollback()
			}
			return tx.Commit()
		}()
	}()
	return c
}

// send queues rows for the COPY.
func (c *copier) send(ctx context.Context, rows [][]any) error {
	select {
	case c.rows <- rows:
		return nil
	case err := <-c.done:
		c.done <- err
		if err == nil {
			err = errors.New("copy ended early")
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish ends the COPY and commits it if commit, else rolls it back.
func (c *copier) finish(commit bool) error {
	close(c.rows)
	c.ok <- commit
	return <-c.done
}

// sqliteDSN opens the seeded SQLite file as the store does (store.sqliteDSN:
// the same time format, so the seeded times sort and compare as the
// product's), without fsyncs: a seed that dies is done again.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=foreign_keys(0)&_pragma=journal_mode(WAL)" +
		"&_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)&_pragma=temp_store(MEMORY)" +
		"&_pragma=cache_size(-262144)&_time_format=sqlite&_timezone=UTC"
}

// sqliteBatch is the rows of one multi-row INSERT: 27 columns × 500 stays
// below SQLite's 32766 bind parameters.
const sqliteBatch = 500

// seedSQLite loads h into the freshly migrated SQLite database at path with
// multi-row INSERTs, one transaction per generated chunk. The secondary
// indexes of the callbacks and views are dropped first and made again
// after; the search table keeps its FTS5 triggers, which index each
// document as it is inserted, as Save's inserts do.
func seedSQLite(ctx context.Context, path string, h History) (seedStats, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return seedStats{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
		AND tbl_name IN ('llm_callbacks', 'llm_callback_views')`)
	if err != nil {
		return seedStats{}, err
	}
	drops, indexes, err := dropAndRemake(rows)
	if err != nil {
		return seedStats{}, err
	}
	for _, stmt := range drops {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return seedStats{}, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	insert := func(tx *sql.Tx, table string, columns []string, rows [][]any) error {
		for start := 0; start < len(rows); start += sqliteBatch {
			part := rows[start:min(start+sqliteBatch, len(rows))]
			var b strings.Builder
			b.WriteString("INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES ")
			tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
			args := make([]any, 0, len(part)*len(columns))
			for i, r := range part {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(tuple)
				args = append(args, r...)
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return fmt.Errorf("insert into %s: %w", table, err)
			}
		}
		return nil
	}
	begin := time.Now()
	var st seedStats
	viewSeq := int64(h.N)
	lastReport := time.Now()
	err = generate(ctx, h, func(rs []Row) error {
		cbs, docs, views := tableRows(rs, &viewSeq)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		err = errors.Join(
			insert(tx, "llm_callbacks", callbackColumns, cbs),
			insert(tx, "llm_callback_search", []string{"callback_id", "document"}, docs),
			insert(tx, "llm_callback_views", viewColumns, views),
		)
		if err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		st.Callbacks += int64(len(rs))
		st.Views += int64(len(views))
		if time.Since(lastReport) > 30*time.Second {
			lastReport = time.Now()
			progress("seeded %d of %d callbacks (%.0f/s)", st.Callbacks, h.N, float64(st.Callbacks)/time.Since(begin).Seconds())
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	st.Load = time.Since(begin)
	progress("loaded %d callbacks, %d views in %v; building indexes", st.Callbacks, st.Views, st.Load.Round(time.Second))
	begin = time.Now()
	for _, stmt := range append(indexes,
		fmt.Sprintf("UPDATE feed_position SET seq = %d WHERE id = 1", viewSeq),
		"ANALYZE", "PRAGMA wal_checkpoint(TRUNCATE)",
	) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return st, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	st.Index = time.Since(begin)
	return st, nil
}

// sqlitePath is the database file of a SQLite data directory.
func sqlitePath(dir string) string { return filepath.Join(dir, "callbackd.db") }
