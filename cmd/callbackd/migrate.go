package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/callbackd/callbackd/internal/store"
)

// withMigrator opens the database without migrating it and runs fn.
func withMigrator(ctx context.Context, log *slog.Logger, db *DatabaseFlags, fn func(*store.Migrator) error) error {
	st, err := store.Open(ctx, db.DatabaseURL, db.DataDir, log)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := st.Migrator()
	if err != nil {
		return err
	}
	return fn(m)
}

// Run applies every pending migration.
func (MigrateUpCmd) Run(ctx context.Context, log *slog.Logger, db *DatabaseFlags, out io.Writer) error {
	return withMigrator(ctx, log, db, func(m *store.Migrator) error {
		applied, err := m.Up(ctx)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(out, "schema is up to date")
		}
		for _, name := range applied {
			fmt.Fprintln(out, "applied", name)
		}
		return nil
	})
}

// Run reverts the latest applied migration.
func (MigrateDownCmd) Run(ctx context.Context, log *slog.Logger, db *DatabaseFlags, out io.Writer) error {
	return withMigrator(ctx, log, db, func(m *store.Migrator) error {
		name, err := m.Down(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "reverted", name)
		return nil
	})
}

// Run lists every migration and whether it is applied.
func (MigrateStatusCmd) Run(ctx context.Context, log *slog.Logger, db *DatabaseFlags, out io.Writer) error {
	return withMigrator(ctx, log, db, func(m *store.Migrator) error {
		statuses, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range statuses {
			fmt.Fprintln(out, s.String())
		}
		return nil
	})
}

// migrate brings the schema up to date at start, or with --no-migrate checks
// that it already is (for deployments that migrate as a separate step).
func migrate(ctx context.Context, log *slog.Logger, st *store.Store, noMigrate bool) error {
	m, err := st.Migrator()
	if err != nil {
		return err
	}
	if noMigrate {
		statuses, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range statuses {
			if !s.Applied {
				return fmt.Errorf("schema migration %s is pending and --no-migrate is set; run `callbackd migrate up`", s.Name)
			}
		}
		return nil
	}
	applied, err := m.Up(ctx)
	if err != nil {
		return err
	}
	for _, name := range applied {
		log.Info("applied schema migration", "name", name)
	}
	return nil
}
