package callbackd

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// generatedDirs are the trees that `go generate ./...` writes. They are
// committed, so that the module builds without the generators.
var generatedDirs = []string{"gen", "ent", "server/openapi", "clients/ts/src/gen"}

// tsNodeModules holds protoc-gen-es, the TypeScript plugin that buf.gen.yaml
// runs; `npm ci` in clients/ts/ installs it from the lockfile.
const tsNodeModules = "clients/ts/node_modules"

// TestGeneratedCodeIsCurrent regenerates everything in a copy of the module
// and fails if any generated file differs from the committed one, or exists
// on only one side.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating code builds buf and the plugins; skipped with -short")
	}
	if _, err := os.Stat(filepath.Join(tsNodeModules, ".bin", "protoc-gen-es")); err != nil {
		msg := "go generate runs protoc-gen-es from " + tsNodeModules + ", which is missing: run npm ci in clients/ts/"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	copyDir := t.TempDir()
	copyModule(t, ".", copyDir)
	// The copy skips node_modules; the plugins are borrowed, not copied.
	abs, err := filepath.Abs(tsNodeModules)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, filepath.Join(copyDir, tsNodeModules)); err != nil {
		t.Fatalf("link %s: %v", tsNodeModules, err)
	}
	cmd := exec.Command("go", "generate", "./...")
	cmd.Dir = copyDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go generate: %v\n%s", err, out)
	}
	for _, dir := range generatedDirs {
		want := readTree(t, filepath.Join(copyDir, dir))
		got := readTree(t, dir)
		for name, w := range want {
			g, ok := got[name]
			switch {
			case !ok:
				t.Errorf("%s/%s: generated but not committed; run go generate ./...", dir, name)
			case !bytes.Equal(g, w):
				t.Errorf("%s/%s: committed file differs from generated; run go generate ./...", dir, name)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("%s/%s: committed but no longer generated; run go generate ./...", dir, name)
			}
		}
	}
}

// copyModule copies the module's sources, skipping VCS data, local data
// directories and node_modules.
func copyModule(t *testing.T, src, dst string) {
	t.Helper()
	skip := map[string]bool{".git": true, "data": true, "node_modules": true}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() && skip[d.Name()] {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy module: %v", err)
	}
}

// readTree returns every regular file under dir by slash-separated relative
// path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[strings.ReplaceAll(rel, string(filepath.Separator), "/")] = b
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return files
}
