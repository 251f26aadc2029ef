package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr returns the address of the party that sent r. Behind load
// balancers listed in trusted (CIDRs), it walks X-Forwarded-For from the
// right and returns the first hop that is not a trusted proxy: entries left
// of it were written by the client and prove nothing. Without trusted
// proxies it is the TCP peer, and X-Forwarded-For is ignored.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer := r.RemoteAddr
	if len(trusted) == 0 || !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if !isTrusted(hop, trusted) {
			return hop
		}
	}
	return peer
}

// isTrusted reports whether addr ("ip" or "ip:port") lies in trusted.
func isTrusted(addr string, trusted []netip.Prefix) bool {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range trusted {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}
