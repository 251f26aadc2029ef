package callbackclient_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
)

// The callbackd binary, and the server started with it that the tests and
// examples talk to.
var (
	callbackdBinary string
	server          *callbackdtest.Server
)

// TestMain builds callbackd, starts it with a fresh SQLite database, and
// points the examples at it through the environment variables that
// callbackctl reads too.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "callbackclient-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	callbackdBinary, err = callbackdtest.Build(ctx, dir, callbackdtest.BuildOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	server, err = callbackdtest.Start(ctx, callbackdtest.Options{Binary: callbackdBinary, DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer server.Stop()
	os.Setenv("CALLBACKCTL_SERVER", server.URL)
	os.Setenv("CALLBACKCTL_TOKEN", callbackdtest.Token)
	return m.Run()
}
