// Package buildinfo says which build of callbackd (or callbackctl) is
// running: its version, the commit it was built from and the Go toolchain
// that built it, for --version, the callbackd_build_info metric, the
// OpenAPI document and GetServerInfo.
//
// A release build stamps the version and commit with the linker
// (tools/release.sh):
//
//	-ldflags "-X github.com/callbackd/callbackd/internal/buildinfo.version=v1.2.3
//	          -X github.com/callbackd/callbackd/internal/buildinfo.commit=<sha>"
//
// Any other build falls back to what the go command recorded: the module
// version (a tag or pseudo-version, "(devel)" in a source tree without
// one) and the VCS revision.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// version and commit are written only by the linker (-X), never by code:
// -X can set nothing but a package-level string variable.
var (
	version string
	commit  string
)

// Info describes one build.
type Info struct {
	Version   string // v1.2.3, a pseudo-version, or "(devel)"
	Commit    string // the VCS revision, "-dirty" appended for a modified tree; "unknown" without one
	GoVersion string // the toolchain, e.g. go1.26.8
}

// Read returns the running binary's build information.
func Read() Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if info.Version == "" {
		info.Version = "(devel)"
		if ok && bi.Main.Version != "" {
			info.Version = bi.Main.Version
		}
	}
	if info.Commit == "" {
		info.Commit = "unknown"
		if ok {
			info.Commit = vcsCommit(bi.Settings)
		}
	}
	return info
}

// vcsCommit reads the revision the go command stamped, "unknown" when it
// stamped none (a build outside a repository, or with -buildvcs=false).
func vcsCommit(settings []debug.BuildSetting) string {
	revision, modified := "", false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	switch {
	case revision == "":
		return "unknown"
	case modified:
		return revision + "-dirty"
	default:
		return revision
	}
}

// String is the one-line form --version prints: "v1.2.3 (commit abc…,
// go1.26.8)".
func (i Info) String() string {
	return i.Version + " (commit " + i.Commit + ", " + i.GoVersion + ")"
}
