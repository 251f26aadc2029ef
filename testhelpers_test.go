package callbackd

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testOnlyImports are packages made for tests: production code that needs
// what they do uses a supported mechanism instead (a plain handler call, an
// in-memory net.Pipe listener).
var testOnlyImports = []string{
	"net/http/httptest",
	"google.golang.org/grpc/test/bufconn",
}

// TestNoTestHelpersInProduction fails when a Go file of the module that is
// not a test imports a package made for tests. It parses every such file,
// whatever its build tags, in every directory the go tool would build
// (testdata, node_modules and names starting with "." or "_" excepted).
func TestNoTestHelpersInProduction(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != "." && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, banned := range testOnlyImports {
				if p == banned || strings.HasPrefix(p, banned+"/") {
					t.Errorf("%s imports %s, a package made for tests", path, p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("parsed only %d non-test Go files: the walk missed the module", files)
	}
}
