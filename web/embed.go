// Package web serves callbackd's admin web UI: the React app in this
// directory, built by Vite into dist/ and embedded in the binary, so that a
// server built without Node serves the whole UI. The build is committed;
// web_test.go rebuilds it from the lockfile and fails if it differs.
package web

import (
	"embed"
	"io/fs"
)

// dist is the committed production build of the UI (npm run build).
//
//go:embed all:dist
var dist embed.FS

// Dist returns the embedded build, rooted at dist/.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only for an invalid path; "dist" is valid.
		panic(err)
	}
	return sub
}
