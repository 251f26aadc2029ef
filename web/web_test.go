package web

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the e2e screenshots to docs/screenshots")

// chromiumPath is Debian's chromium, which .ci/run installs; the e2e tests
// never download a browser.
const chromiumPath = "/usr/bin/chromium"

// requireUITools skips (or, under CI, fails) when what the UI's build and
// tests need is missing: node, npm, web/node_modules and clients/ts/node_modules
// (npm ci) and Chromium.
func requireUITools(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (install Node.js 20.19+)")
		}
	}
	if _, err := os.Stat("node_modules"); err != nil {
		missing = append(missing, "web/node_modules (run: cd web && npm ci)")
	}
	// The UI compiles the TypeScript client's sources (clients/ts), whose
	// imports type-check against that package's own node_modules.
	if _, err := os.Stat(filepath.Join("..", "clients", "ts", "node_modules")); err != nil {
		missing = append(missing, "clients/ts/node_modules (run: cd clients/ts && npm ci)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath+" (apt-get install -y chromium)")
	}
	if len(missing) == 0 {
		return
	}
	msg := "web UI tests need: " + strings.Join(missing, ", ")
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// npm runs an npm script in web/ and fails the test with its output.
func npm(t *testing.T, timeout time.Duration, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("npm %s (%s):\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("npm %s: %v", strings.Join(args, " "), err)
	}
}

// TestUI proves the committed UI: it rebuilds it from the sources and the
// lockfile and compares byte for byte with dist/, runs the unit tests, and
// runs the end-to-end tests in Chromium against the real server on SQLite
// and PostgreSQL.
func TestUI(t *testing.T) {
	if testing.Short() {
		t.Skip("the UI build and browser tests are skipped with -short")
	}
	requireUITools(t)

	t.Run("committed build is current", func(t *testing.T) {
		out := t.TempDir()
		npm(t, 3*time.Minute, nil, "run", "build", "--", "--outDir", out, "--emptyOutDir")
		want, got := readTree(t, out), readTree(t, "dist")
		for name, w := range want {
			g, ok := got[name]
			switch {
			case !ok:
				t.Errorf("dist/%s: built but not committed; run npm run build in web/", name)
			case !bytes.Equal(g, w):
				t.Errorf("dist/%s: committed file differs from the build; run npm run build in web/", name)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("dist/%s: committed but no longer built; run npm run build in web/", name)
			}
		}
	})

	t.Run("unit", func(t *testing.T) {
		npm(t, 3*time.Minute, nil, "test")
	})

	t.Run("e2e", func(t *testing.T) {
		bin, err := callbackdtest.Build(t.Context(), t.TempDir(), callbackdtest.BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The real OpenID Provider of the sign-in tests, its own module.
		provider := filepath.Join(t.TempDir(), "oidcprovider")
		build := exec.CommandContext(t.Context(), "go", "build", "-o", provider, ".")
		build.Dir = filepath.Join("..", "tools", "oidcprovider")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build tools/oidcprovider: %v\n%s", err, out)
		}
		shots := t.TempDir()
		if *updateScreenshots {
			abs, err := filepath.Abs(filepath.Join("..", "docs", "screenshots"))
			if err != nil {
				t.Fatal(err)
			}
			shots = abs
		}
		npm(t, 6*time.Minute, []string{
			"CALLBACKD_BIN=" + bin,
			"CALLBACKD_E2E_POSTGRES_URL=" + storetest.PostgresURL(t),
			"CALLBACKD_SCREENSHOT_DIR=" + shots,
			"CHROMIUM_PATH=" + chromiumPath,
			"OIDC_PROVIDER_BIN=" + provider,
		}, "run", "e2e")
	})
}

// readTree returns every regular file under dir by slash-separated path.
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
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return files
}
