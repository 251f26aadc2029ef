package server

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestValidRequestID keeps short printable IDs and refuses the rest.
func TestValidRequestID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"req-123":                              true,
		"0b1e2f3a4c5d6e7f":                     true,
		"a.b_c:d-E":                            true,
		strings.Repeat("x", maxRequestIDLen):   true,
		"":                                     false,
		strings.Repeat("x", maxRequestIDLen+1): false,
		"two words":                            false,
		"\xff\xfe":                             false,
		"é":                                    false,
		"a\tb":                                 false,
		`"quoted"`:                             false,
		"../etc":                               false,
	} {
		require.Equal(t, want, validRequestID(id), "%q", id)
	}
}
