// Package ent holds the ent client generated from the schema in ent/schema:
// the two tables of callbackd, llm_callbacks and llm_callback_views. Only
// the schema and this file are written by hand; run `go generate ./ent/...`
// after changing the schema. The sql/execquery feature lets the store run
// its hand-written queries (search, statistics, the change feed's view
// batches) inside ent's transactions.
package ent

//go:generate go tool ent generate --feature sql/execquery ./schema
