package failurelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSenderKey: IPv4 senders are keyed per address, IPv6 senders per /64,
// whatever the port, zone or IPv4-mapped form.
func TestSenderKey(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"203.0.113.9:5000":                 "203.0.113.9",
		"203.0.113.9":                      "203.0.113.9",
		"[::ffff:203.0.113.9]:80":          "203.0.113.9",
		"[2001:db8:1:2:aaaa::1]:443":       "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:ffff:ffff": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:22":                "fe80::/64",
		"2001:db8:1:3::1":                  "2001:db8:1:3::/64",
		"not an address":                   "not an address",
		"\xff" + string(make([]byte, 200)): ("\xff" + string(make([]byte, 200)))[:maxKeyBytes],
	} {
		require.Equal(t, want, SenderKey(addr), "%q", addr)
	}
}

// TestFailureLimiterSharesIPv6Prefix: addresses of one /64 spend one
// budget; a neighbouring /64 and IPv4 addresses have their own.
func TestFailureLimiterSharesIPv6Prefix(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := New(0.001, 3)
	for i := range 3 {
		require.True(t, l.Fail(fmt.Sprintf("[2001:db8:0:1::%x]:1234", i+1), now), "failure %d within the burst", i+1)
	}
	require.False(t, l.Fail("[2001:db8:0:1:ffff::9]:4321", now), "another address of the same /64 shares the spent budget")
	require.True(t, l.Fail("[2001:db8:0:2::1]:1234", now), "the next /64 is another sender")
	require.True(t, l.Fail("192.0.2.1:1", now))
	require.True(t, l.Fail("192.0.2.2:1", now), "IPv4 addresses are keyed one by one")
}

// TestFailureLimiterCannotBeReset: rotating through more addresses than the
// table holds neither forgets a blocked sender nor lets new addresses escape
// the limit: once the table is full they share the overflow bucket. Senders
// whose budget has refilled make room again.
func TestFailureLimiterCannotBeReset(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := New(1, 2)
	blocked := "198.51.100.7:999"
	require.True(t, l.Fail(blocked, now))
	require.True(t, l.Fail(blocked, now))
	require.False(t, l.Fail(blocked, now))

	refused := 0
	for i := range maxTrackedSenders + 1000 {
		at := now.Add(time.Duration(i) * time.Microsecond) // far less than a token's refill
		if !l.Fail(fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255), at) {
			refused++
		}
	}
	require.Len(t, l.senders, maxTrackedSenders, "the table is bounded")
	require.Equal(t, 1000+1-2, refused, "past the table, new addresses share one bucket of burst 2")
	require.False(t, l.Fail(blocked, now.Add(20*time.Millisecond)), "the blocked sender is still blocked")

	// Two seconds later every budget has refilled: a sweep makes room, and a
	// new sender gets its own budget again.
	later := now.Add(2 * time.Second)
	require.True(t, l.Fail("192.0.2.200:1", later))
	require.True(t, l.Fail("192.0.2.200:1", later))
	require.False(t, l.Fail("192.0.2.200:1", later))
	require.Less(t, len(l.senders), maxTrackedSenders)
}

// TestFailureLimiterDisabled: a non-positive rate never refuses.
func TestFailureLimiterDisabled(t *testing.T) {
	t.Parallel()
	l := New(0, 10)
	for range 100 {
		require.True(t, l.Fail("192.0.2.1:1", time.Now()))
	}
}
