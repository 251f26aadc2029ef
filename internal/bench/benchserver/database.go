package benchserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/lib/pq" // also registers the "postgres" driver
)

// Database is the fresh database of one run: a directory for SQLite data and
// server logs and, on PostgreSQL, a database created for the run. A fresh
// one per run keeps one run's rows from slowing or skewing the next.
type Database struct {
	Kind string // "sqlite" or "postgres"
	Dir  string // the run's directory: SQLite data, server data and logs
	URL  string // the servers' --database-url: empty for SQLite

	adminURL string // PostgreSQL database that creates and drops name
	name     string // PostgreSQL database created for the run
}

// CreateDatabase makes the run's directory below tmp and, if kind is
// "postgres", a database namePrefix<random> through pgURL (the program's
// -pg-url), which must allow CREATE DATABASE. Call [Database.Drop] when the
// run ends.
func CreateDatabase(ctx context.Context, kind, pgURL, tmp, namePrefix string) (*Database, error) {
	dir, err := os.MkdirTemp(tmp, "run-")
	if err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	d := &Database{Kind: kind, Dir: dir}
	if kind != "postgres" {
		return d, nil
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		return nil, fmt.Errorf("-pg-url: %w", err)
	}
	d.adminURL, d.name = pgURL, namePrefix+RandomHex(6)
	if err := d.adminExec(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(d.name)); err != nil {
		return nil, fmt.Errorf("create database %s: %w", d.name, err)
	}
	u.Path = "/" + d.name
	d.URL = u.String()
	return d, nil
}

// adminExec runs one statement on the admin database.
func (d *Database) adminExec(ctx context.Context, stmt string) error {
	admin, err := sql.Open("postgres", d.adminURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	_, err = admin.ExecContext(ctx, stmt)
	return err
}

// Drop removes the run's directory and PostgreSQL database, ending the
// connections still open to it. It does not take the run's context, so that
// an interrupted run still cleans up.
func (d *Database) Drop() error {
	var err error
	if d.name != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if e := d.adminExec(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(d.name)+" WITH (FORCE)"); e != nil {
			err = fmt.Errorf("drop database %s: %w", d.name, e)
		}
	}
	return errors.Join(err, os.RemoveAll(d.Dir))
}
