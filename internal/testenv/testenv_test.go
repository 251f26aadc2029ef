package testenv

import (
	"path/filepath"
	"testing"
)

// TestMissingSaysWhatSkips reports an unmet requirement, and only that one,
// with the verb that CI changes.
func TestMissingSaysWhatSkips(t *testing.T) {
	t.Parallel()
	met := Requirement{Name: "Met", Missing: func() string { return "" }}
	unmet := Requirement{Name: "Browser", Missing: func() string { return "missing /no/such/browser" }}
	if got, want := missing("web", false, []Requirement{met, unmet}), "web: tests that need Browser will skip: missing /no/such/browser\n"; got != want {
		t.Errorf("missing() = %q, want %q", got, want)
	}
	if got, want := missing("web", true, []Requirement{unmet}), "web: tests that need Browser will fail (CI is set): missing /no/such/browser\n"; got != want {
		t.Errorf("missing() under CI = %q, want %q", got, want)
	}
	if got := missing("web", false, []Requirement{met}); got != "" {
		t.Errorf("missing() with every requirement met = %q, want nothing", got)
	}
}

// TestRequirementsNoticeWhatIsAbsent: a directory without node_modules and
// a browser path that does not exist are reported as missing.
func TestRequirementsNoticeWhatIsAbsent(t *testing.T) {
	t.Parallel()
	if why := Node("testenv/no-such-package").Missing(); why == "" {
		t.Error("Node() with a directory lacking node_modules says nothing is missing")
	}
	if why := Chromium(filepath.Join(t.TempDir(), "chromium")).Missing(); why == "" {
		t.Error("Chromium() with a path that does not exist says nothing is missing")
	}
}
