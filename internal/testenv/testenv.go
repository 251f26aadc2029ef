// Package testenv says, once per test binary, which of the things that some
// of its tests need (PostgreSQL, Node and the npm packages, Chromium) is
// missing on this machine, and so which tests will skip there.
//
// A skipped test prints its reason only under -v, and `go test ./...` shows
// nothing but "ok" for a package that passed, whatever the test binary wrote
// to its standard output or error. So Report writes to the controlling
// terminal (/dev/tty), where the person who ran the tests reads it, and to
// standard error, which `go test` shows under -v, in a package directory or
// when the package fails. Under CI (the CI variable set) those tests fail
// instead of skipping; Report says that too.
package testenv

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/internal/store/storetest"
)

// Requirement is something that some tests of a package need.
type Requirement struct {
	// Name says what the tests need, as in "tests that need Name".
	Name string
	// Missing returns why the requirement is not met here, or "" when it
	// is.
	Missing func() string
}

// PostgreSQL is the server that storetest.PostgresURL creates test
// databases on.
func PostgreSQL() Requirement {
	return Requirement{Name: "PostgreSQL", Missing: func() string {
		if err := storetest.PostgresUnreachable(); err != nil {
			return err.Error()
		}
		return ""
	}}
}

// Node is node and npm on PATH and the node_modules (npm ci) of each of
// dirs, given relative to the module root.
func Node(dirs ...string) Requirement {
	return Requirement{Name: "Node", Missing: func() string {
		var missing []string
		for _, tool := range []string{"node", "npm"} {
			if _, err := exec.LookPath(tool); err != nil {
				missing = append(missing, tool+" (install Node.js 20.19+)")
			}
		}
		root := moduleRoot()
		for _, dir := range dirs {
			if _, err := os.Stat(filepath.Join(root, dir, "node_modules")); err != nil {
				missing = append(missing, dir+"/node_modules (run: cd "+dir+" && npm ci)")
			}
		}
		if len(missing) == 0 {
			return ""
		}
		return "missing " + strings.Join(missing, ", ")
	}}
}

// Chromium is the browser at path that the UI's browser tests drive.
func Chromium(path string) Requirement {
	return Requirement{Name: "Chromium", Missing: func() string {
		if _, err := os.Stat(path); err != nil {
			return "missing " + path + " (apt-get install -y chromium)"
		}
		return ""
	}}
}

// Report tells, once, which of reqs is missing and so which tests will skip
// (or, under CI, fail). Call it from TestMain before m.Run.
func Report(reqs ...Requirement) {
	text := missing(packagePath(), os.Getenv("CI") != "", reqs)
	if text == "" {
		return
	}
	var w io.Writer = os.Stderr
	if !isTerminal(os.Stderr) { // go test captures it: say it on the terminal too
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			w = io.MultiWriter(os.Stderr, tty)
		}
	}
	fmt.Fprint(w, text)
}

// missing returns one line for each requirement of pkg that is not met,
// saying what its tests will do: skip, or fail under CI.
func missing(pkg string, ci bool, reqs []Requirement) string {
	verb := "skip"
	if ci {
		verb = "fail (CI is set)"
	}
	var b strings.Builder
	for _, r := range reqs {
		if why := r.Missing(); why != "" {
			fmt.Fprintf(&b, "%s: tests that need %s will %s: %s\n", pkg, r.Name, verb, why)
		}
	}
	return b.String()
}

// isTerminal reports whether f is a character device (a terminal), as
// standard error is when `go test` streams a package's output.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Main is TestMain for a package that has no other setup: it reports the
// missing requirements and runs the tests.
func Main(m *testing.M, reqs ...Requirement) {
	Report(reqs...)
	os.Exit(m.Run())
}

// moduleRoot returns the nearest directory at or above the working
// directory (a test binary runs in its package's directory) that holds
// go.mod.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// packagePath names the package under test by its directory in the module.
func packagePath() string {
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Base(os.Args[0])
	}
	rel, err := filepath.Rel(moduleRoot(), dir)
	if err != nil || rel == "." {
		return "callbackd (module root)"
	}
	return filepath.ToSlash(rel)
}
