// Package ent holds the ent client generated from the schema in ent/schema:
// the two tables of callbackd, llm_callbacks and llm_callback_views. Only
// the schema and this file are written by hand; run `go generate ./ent/...`
// after changing the schema.
package ent

//go:generate go tool ent generate ./schema
