//go:build !benchmodes

package main

import (
	"log/slog"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/ingest"
)

// benchBuild reports whether this is a benchmark build.
const benchBuild = false

// BenchFlags are empty in a product build: the ingest benchmark's reference
// modes exist only in a build with the benchmodes tag (benchmodes.go).
type BenchFlags struct{}

func (BenchFlags) warn(*slog.Logger) {}

// ingest leaves the ingest pipeline as the product runs it.
func (BenchFlags) ingest(cfg ingest.Config, st callback.Store, pub ingest.Publisher) (ingest.Config, callback.Store, ingest.Publisher) {
	return cfg, st, pub
}
