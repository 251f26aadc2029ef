package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/callbackd/callbackd/internal/callback"
)

// classify marks errors that a retry may fix (database down or restarting,
// connection lost, disk full, read-only or unreadable file, lock not
// obtained in time) with callback.ErrUnavailable, keeping err in the chain.
// Other errors are returned unchanged.
func classify(err error) error {
	if err == nil || errors.Is(err, callback.ErrUnavailable) {
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", callback.ErrUnavailable, err)
	}
	return err
}

func unavailable(err error) bool {
	if e := pq.As(err); e != nil {
		switch {
		case e.Code.Class() == "08", // connection exception
			e.Code.Class() == "53",                   // insufficient resources: disk full, out of memory, too many connections
			strings.HasPrefix(string(e.Code), "57P"), // admin or crash shutdown, cannot connect now
			e.Code == pqerror.IOError:
			return true
		}
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_NOMEM:
			return true
		}
		return false
	}
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) ||
		errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ENOSPC)
}

// isForeignKeyViolation reports whether err is a foreign-key violation.
func isForeignKeyViolation(err error) bool {
	if pq.As(err, pqerror.ForeignKeyViolation) != nil {
		return true
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// isReadOnly reports whether err is SQLite's "attempt to write a readonly
// database" (any extended code).
func isReadOnly(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_READONLY
}

// writeFailed is called with the error of every failed write. SQLite opens a
// file it cannot write read-only without complaint, and the connection
// stays read-only after the file becomes writable again; the writer's single
// connection is therefore discarded after a read-only error, so the next
// write reopens the file and recovers by itself.
func (s *Store) writeFailed(err error) {
	if s.dialect != DialectSQLite || !isReadOnly(err) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, cerr := s.db.Conn(ctx)
	if cerr != nil {
		return
	}
	defer conn.Close()
	// Returning ErrBadConn from Raw makes database/sql close the connection.
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}
