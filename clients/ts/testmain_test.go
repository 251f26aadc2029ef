package tsclient_test

import (
	"testing"

	"github.com/callbackd/callbackd/internal/testenv"
)

// TestMain says once, before the tests run, which of what they need is
// missing here, so that their skips are visible without -v.
func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Node("clients/ts", "clients/ts/test/openapi"))
}
