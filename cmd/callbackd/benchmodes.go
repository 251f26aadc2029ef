//go:build benchmodes

package main

import (
	"context"
	"log/slog"

	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/ingest"
)

// BenchFlags choose how deliveries are stored, in a benchmark build only
// (go build -tags benchmodes, as bench/ingestload does): the reference
// modes let one run on one binary measure what group commit buys. A product
// build has no such flag, so no deployment can acknowledge callbacks it
// does not keep.
type BenchFlags struct {
	IngestMode string `help:"BENCHMARK BUILD: storage mode: group (group commit, the product's), naive (one transaction per delivery) or discard (verify and parse, store nothing, acknowledge anyway)." enum:"group,naive,discard" default:"group" env:"CALLBACKD_INGEST_MODE"`
}

// benchBuild reports whether this is a benchmark build.
const benchBuild = true

// naiveWorkers bounds concurrent transactions in the naive mode, like a
// typical connection pool.
const naiveWorkers = 64

// warn says that a reference mode is running.
func (f BenchFlags) warn(log *slog.Logger) {
	if f.IngestMode != "group" {
		log.Warn("benchmark ingest mode: not for production", "mode", f.IngestMode)
	}
}

// ingest rewires the ingest pipeline for the mode: naive commits each
// delivery alone on many workers; discard stores nothing and tells no
// watcher, so that what remains is the verify-and-parse ceiling.
func (f BenchFlags) ingest(cfg ingest.Config, st callback.Store, pub ingest.Publisher) (ingest.Config, callback.Store, ingest.Publisher) {
	switch f.IngestMode {
	case "naive":
		cfg.Workers, cfg.MaxBatch = naiveWorkers, 1
	case "discard":
		return cfg, discardStore{st}, nil
	}
	return cfg, st, pub
}

// discardStore acknowledges every delivery without storing it; every other
// method is the real store's.
type discardStore struct{ callback.Store }

// Save stores nothing and answers each delivery as a new callback.
func (discardStore) Save(_ context.Context, deliveries []callback.Delivery) ([]callback.SaveResult, error) {
	res := make([]callback.SaveResult, len(deliveries))
	for i, d := range deliveries {
		res[i] = callback.SaveResult{ID: uuid.New(), Key: d.Key, DeliveryCount: 1}
	}
	return res, nil
}
