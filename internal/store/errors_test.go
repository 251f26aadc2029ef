package store

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err         error
		unavailable bool
	}{
		{&pq.Error{Code: "08006"}, true},  // connection failure
		{&pq.Error{Code: "57P01"}, true},  // admin shutdown
		{&pq.Error{Code: "57P03"}, true},  // cannot connect now
		{&pq.Error{Code: "53100"}, true},  // disk full
		{&pq.Error{Code: "53300"}, true},  // too many connections
		{&pq.Error{Code: "57014"}, false}, // query cancelled
		{&pq.Error{Code: "23505"}, false}, // unique violation
		{&pq.Error{Code: "42P01"}, false}, // undefined table
		{fmt.Errorf("query: %w", driver.ErrBadConn), true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{syscall.ENOSPC, true},
		{errors.New("syntax error"), false},
	} {
		got := classify(tt.err)
		require.Equal(t, tt.unavailable, errors.Is(got, callback.ErrUnavailable), "%v", tt.err)
		require.ErrorIs(t, got, tt.err, "the original stays in the chain")
	}
	require.NoError(t, classify(nil))
}
