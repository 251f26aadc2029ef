package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAddressLimiter: failures spend a per-host budget that refills; an
// IPv6 host is its /64; a full table cannot be flushed by new addresses,
// and refilled buckets make room again.
func TestAddressLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := newAddressLimiter(1, 2)
	require.True(t, l.allow("192.0.2.1:1000", now))
	require.True(t, l.allow("192.0.2.1:2000", now), "the port is not part of the host")
	require.False(t, l.allow("192.0.2.1:3000", now))
	require.True(t, l.allow("192.0.2.2:1000", now), "another host has its own budget")
	require.True(t, l.allow("192.0.2.1:1000", now.Add(time.Second)), "the budget refills")

	require.True(t, l.allow("[2001:db8::1]:1", now))
	require.True(t, l.allow("[2001:db8::ffff]:1", now))
	require.False(t, l.allow("[2001:db8::1:2]:1", now), "one /64 is one host")

	// Fill the table with hosts that spent their budget: rotating to new
	// addresses gets no fresh budget while they have not refilled.
	full := newAddressLimiter(1, 1)
	for i := range maxTrackedHosts {
		require.True(t, full.allow(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), now))
	}
	require.False(t, full.allow("198.51.100.1", now))
	require.False(t, full.allow("198.51.100.2", now.Add(500*time.Millisecond)))
	// Refilled buckets are dropped, and a new host gets a bucket again.
	require.True(t, full.allow("198.51.100.3", now.Add(2*time.Second)))

	off := newAddressLimiter(0, 5)
	require.Nil(t, off)
	require.True(t, off.allow("192.0.2.1", now))
}
