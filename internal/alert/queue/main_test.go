package queue_test

import (
	"testing"

	"github.com/callbackd/callbackd/internal/testenv"
)

// TestMain says once which of what the tests need is missing here.
func TestMain(m *testing.M) {
	testenv.Main(m, testenv.PostgreSQL())
}
