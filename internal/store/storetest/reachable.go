package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"time"
)

// PostgresUnreachable returns why the PostgreSQL server that PostgresURL
// uses cannot be reached, or nil when it answers. A test binary calls it
// once (see package testenv) to say why its PostgreSQL tests will skip.
func PostgresUnreachable() error {
	base := os.Getenv(PostgresEnv)
	if base == "" {
		base = DefaultPostgresURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("parse %s: %w", PostgresEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := sql.Open("postgres", base)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s (set %s): %w", u.Redacted(), PostgresEnv, err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("PostgreSQL at %s is unreachable (set %s): %w", u.Redacted(), PostgresEnv, err)
	}
	return nil
}
