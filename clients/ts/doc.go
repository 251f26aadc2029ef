// Package tsclient holds no Go code: clients/ts is the TypeScript client,
// the npm package @callbackd/client. It contains the code protoc-gen-es
// generates from proto/ (src/gen, written by `go generate ./...`), helpers
// for Node (src/node.ts) and browsers (src/web.ts), and a Node test that
// streams from a real server. The web UI compiles the same sources.
//
// The Go test in this directory runs that Node test (npm test) as part of
// `go test ./...`, against a callbackd it builds.
package tsclient
