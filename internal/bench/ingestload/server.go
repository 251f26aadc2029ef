package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	"github.com/callbackd/callbackd/internal/bench/benchserver"
	_ "github.com/lib/pq"  // the "postgres" driver, to count rows
	_ "modernc.org/sqlite" // the "sqlite" driver, to count rows
)

// expectedLog is the warning every non-production ingest mode logs at
// start; it is not a complaint about the load.
const expectedLog = `msg="benchmark ingest mode`

// startServer starts bin in the given ingest mode on db and a free loopback
// port, with the webhook secret named "bench", and waits until it is ready.
// Its log is server.log in the run's directory; env is added to its
// environment. Group commit is the product's own mode and needs no flag, so
// a product build can run it.
func startServer(ctx context.Context, bin, mode string, db *benchserver.Database, secret string, env []string) (*callbackdtest.Server, error) {
	var args []string
	if mode != "group" {
		args = append(args, "--ingest-mode="+mode)
	}
	return callbackdtest.Start(ctx, callbackdtest.Options{
		Binary:        bin,
		DataDir:       db.Dir,
		DatabaseURL:   db.URL,
		LogPath:       filepath.Join(db.Dir, "server.log"),
		Args:          args,
		WebhookSecret: "bench=" + secret,
		Env:           env,
	})
}

// countRows counts the callbacks the server stored in db.
func countRows(ctx context.Context, d *benchserver.Database) (int64, error) {
	driver, dsn := "postgres", d.URL
	if d.Kind == "sqlite" {
		driver, dsn = "sqlite", filepath.Join(d.Dir, "callbackd.db")
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return 0, fmt.Errorf("count stored callbacks: %w", err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM llm_callbacks").Scan(&n); err != nil {
		return 0, fmt.Errorf("count stored callbacks: %w", err)
	}
	return n, nil
}
