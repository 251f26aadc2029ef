package callbackd

import (
	"os/exec"
	"strings"
	"testing"
)

// allowedImports is the import direction of the module, written down and
// enforced: each package may import only the module packages listed (by
// prefix). cmd → server → domain and storage → ent, gen; never back.
var allowedImports = map[string][]string{
	"callback":     {},
	"webhook":      {},
	"redact":       {},
	"auth":         {"redact"},
	"failurelimit": {},
	"ingest":       {"callback", "failurelimit", "webhook"},
	"watch":        {"callback"},
	"store":        {"callback", "ent", "redact"},
	"retention":    {"store"},
	"server":       {"auth", "callback", "failurelimit", "ingest", "watch", "webhook", "gen"},
}

// TestImportDirection fails when a package imports a module package its
// layer may not depend on.
func TestImportDirection(t *testing.T) {
	t.Parallel()
	const module = "github.com/callbackd/callbackd/"
	for pkg, allowed := range allowedImports {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "./"+pkg).Output()
		if err != nil {
			t.Fatalf("go list ./%s: %v", pkg, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			if !permitted(rel, allowed) {
				t.Errorf("%s imports %s, which its layer may not depend on", pkg, rel)
			}
		}
	}
}

// permitted reports whether rel is one of allowed or below one of them.
func permitted(rel string, allowed []string) bool {
	for _, a := range allowed {
		if rel == a || strings.HasPrefix(rel, a+"/") {
			return true
		}
	}
	return false
}
