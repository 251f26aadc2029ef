package server

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientAddr(t *testing.T) {
	t.Parallel()
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name, peer, xff string
		trusted         []netip.Prefix
		want            string
	}{
		{"no proxies configured: header ignored", "203.0.113.9:5000", "198.51.100.1", nil, "203.0.113.9:5000"},
		{"untrusted peer: header ignored", "203.0.113.9:5000", "198.51.100.1", lb, "203.0.113.9:5000"},
		{"trusted peer: last untrusted hop", "10.0.0.2:5000", "198.51.100.1, 10.0.0.7", lb, "198.51.100.1"},
		{"spoofed left entries ignored", "10.0.0.2:5000", "6.6.6.6, 198.51.100.1", lb, "198.51.100.1"},
		{"only proxies: the peer", "10.0.0.2:5000", "10.0.0.3", lb, "10.0.0.2:5000"},
		{"no header: the peer", "10.0.0.2:5000", "", lb, "10.0.0.2:5000"},
		{"a hop that is not an address: the peer", "10.0.0.2:5000", "198.51.100.1, \xff<script>", lb, "10.0.0.2:5000"},
		{"a hop with a port", "10.0.0.2:5000", "198.51.100.1:4711", lb, "198.51.100.1:4711"},
		{"IPv6 hop", "10.0.0.2:5000", "2001:db8::1", lb, "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.xff != "" {
				h.Set("X-Forwarded-For", tc.xff)
			}
			require.Equal(t, tc.want, clientAddr(tc.peer, h, tc.trusted))
		})
	}
}
