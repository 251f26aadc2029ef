package tsclient_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
)

// requireNode skips (or, under CI, fails) when what the Node test needs is
// missing: node, npm and node_modules (npm ci in clients/ts and in
// clients/ts/test/openapi, the OpenAPI generator's own lockfile).
func requireNode(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (install Node.js 20.19+)")
		}
	}
	for _, dir := range []string{".", "test/openapi"} {
		if _, err := os.Stat(dir + "/node_modules"); err != nil {
			name := strings.TrimSuffix("clients/ts/"+dir, "/.")
			missing = append(missing, name+"/node_modules (run: cd "+name+" && npm ci)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "the TypeScript client's test needs: " + strings.Join(missing, ", ")
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// TestNodeClient compiles the package and runs its Node test (npm test),
// which streams WatchCallbacks over Connect and gRPC from a real callbackd
// built here, checks webhooks signed by third-party libraries, and verifies
// callbackd's own signed alert webhooks with standardwebhooks.
func TestNodeClient(t *testing.T) {
	if testing.Short() {
		t.Skip("the TypeScript client's Node test is skipped with -short")
	}
	requireNode(t)

	bin, err := callbackdtest.Build(t.Context(), t.TempDir(), callbackdtest.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "test")
	cmd.Env = append(os.Environ(), "CALLBACKD_BIN="+bin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("npm test (%s):\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("npm test: %v", err)
	}
}
