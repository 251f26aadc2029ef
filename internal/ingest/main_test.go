package ingest

import (
	"testing"

	"github.com/callbackd/callbackd/internal/testenv"
)

// TestMain says, in a plain go test run, when the committer's PostgreSQL
// tests will skip (or, with CI set, fail).
func TestMain(m *testing.M) {
	testenv.Main(m, testenv.PostgreSQL())
}
