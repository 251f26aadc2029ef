package ingest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRejectionLogKeepsTheNewest wraps the ring and lists newest first.
func TestRejectionLogKeepsTheNewest(t *testing.T) {
	t.Parallel()
	var l rejectionLog
	require.Empty(t, l.list())
	for i := range maxRejections + 7 {
		l.add(Rejection{Reason: fmt.Sprint(i)})
	}
	got := l.list()
	require.Len(t, got, maxRejections)
	require.Equal(t, fmt.Sprint(maxRejections+6), got[0].Reason)
	require.Equal(t, "7", got[maxRejections-1].Reason)
}
