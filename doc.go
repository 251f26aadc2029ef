// Package callbackd is the root of the callbackd module. It holds no code of
// its own: it regenerates the protobuf contracts (go generate ./...) and its
// test checks that every generated file is current.
//
// Import direction is one way: cmd → server → ingest, webhook, callback and
// store → ent and gen. Never back.
package callbackd

//go:generate go tool -modfile=buf.mod buf format -w
//go:generate go tool -modfile=buf.mod buf lint
//go:generate go tool -modfile=buf.mod buf generate
