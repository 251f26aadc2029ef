package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds the hand-written SQL migrations of both dialects, in
// goose format, so that the binary carries its schema.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// Migrator applies the embedded migrations to one database. Each command
// is one goose operation; migrations run in transactions.
type Migrator struct {
	provider *goose.Provider
}

// NewMigrator returns a Migrator for db, whose dialect is DialectSQLite or
// DialectPostgres. On PostgreSQL, migrations hold an advisory lock so that
// replicas starting together migrate one at a time.
func NewMigrator(db *sql.DB, dialect string) (*Migrator, error) {
	var (
		gd   goose.Dialect
		dir  string
		opts []goose.ProviderOption
	)
	switch dialect {
	case DialectPostgres:
		gd, dir = goose.DialectPostgres, "migrations/postgres"
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case DialectSQLite:
		gd, dir = goose.DialectSQLite3, "migrations/sqlite"
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return &Migrator{provider: p}, nil
}

// Migrator returns a Migrator for the store's database.
func (s *Store) Migrator() (*Migrator, error) { return NewMigrator(s.db, s.dialect) }

// MigrationStatus is the state of one migration.
type MigrationStatus struct {
	Version   int64
	Name      string    // file name
	Applied   bool      // applied to the database
	AppliedAt time.Time // zero when pending
}

// String formats the status as one line of `callbackd migrate status`.
func (m MigrationStatus) String() string {
	if !m.Applied {
		return fmt.Sprintf("%-8s %-30s pending", fmt.Sprint(m.Version), m.Name)
	}
	return fmt.Sprintf("%-8s %-30s applied %s", fmt.Sprint(m.Version), m.Name, m.AppliedAt.UTC().Format(time.RFC3339))
}

// Up applies every pending migration and returns the names of those it
// applied (none when the database is up to date).
func (m *Migrator) Up(ctx context.Context) ([]string, error) {
	results, err := m.provider.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate up: %w", classify(err))
	}
	var applied []string
	for _, r := range results {
		applied = append(applied, baseName(r.Source.Path))
	}
	return applied, nil
}

// Down rolls back the latest applied migration and returns its name.
func (m *Migrator) Down(ctx context.Context) (string, error) {
	r, err := m.provider.Down(ctx)
	if err != nil {
		return "", fmt.Errorf("migrate down: %w", classify(err))
	}
	return baseName(r.Source.Path), nil
}

// Status returns the state of every migration, oldest first.
func (m *Migrator) Status(ctx context.Context) ([]MigrationStatus, error) {
	ss, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate status: %w", classify(err))
	}
	out := make([]MigrationStatus, 0, len(ss))
	for _, s := range ss {
		out = append(out, MigrationStatus{
			Version:   s.Source.Version,
			Name:      baseName(s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

func baseName(p string) string { return path.Base(p) }
