package telemetry_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	"github.com/callbackd/callbackd/internal/testenv"
)

// The binaries the tests run: callbackd, and the OpenTelemetry Collector of
// tools/otelcol (an OTLP receiver and the file exporter).
var serverBin, collectorBin string

// TestMain builds callbackd and the collector once for every test. The
// collector has its own module, so that callbackd's go.mod does not take its
// dependencies; the go build cache makes a rebuild cost only the link.
func TestMain(m *testing.M) {
	testenv.Report(testenv.PostgreSQL())
	dir, err := os.MkdirTemp("", "callbackd-telemetry-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "telemetry:", err)
		os.Exit(1)
	}
	code := 1
	if err = build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "telemetry:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds both binaries into dir.
func build(dir string) error {
	ctx := context.Background()
	var err error
	if serverBin, err = callbackdtest.Build(ctx, dir, callbackdtest.BuildOptions{}); err != nil {
		return err
	}
	if collectorBin, err = callbackdtest.Build(ctx, dir, callbackdtest.BuildOptions{Module: "tools/otelcol", Package: "."}); err != nil {
		return fmt.Errorf("build the collector: %w", err)
	}
	return nil
}
