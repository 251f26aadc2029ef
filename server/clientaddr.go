package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr returns the address of the party that sent a request whose TCP
// peer is peer and whose headers are h (an HTTP request's, or a gRPC or
// Connect call's metadata). Behind load balancers listed in trusted (CIDRs),
// it walks X-Forwarded-For from the right and returns the first hop that is
// not a trusted proxy: entries left of it were written by the client and
// prove nothing. Without trusted proxies it is the TCP peer, and
// X-Forwarded-For is ignored; so is a hop that is not an IP address (what a
// trusted proxy writes always is).
func clientAddr(peer string, h http.Header, trusted []netip.Prefix) string {
	if len(trusted) == 0 || !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(h.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if _, ok := parseAddr(hop); !ok {
			return peer
		}
		if !isTrusted(hop, trusted) {
			return hop
		}
	}
	return peer
}

// parseAddr parses "ip" or "ip:port".
func parseAddr(addr string) (netip.Addr, bool) {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	ip, err := netip.ParseAddr(addr)
	return ip, err == nil
}

// isTrusted reports whether addr ("ip" or "ip:port") lies in trusted.
func isTrusted(addr string, trusted []netip.Prefix) bool {
	ip, ok := parseAddr(addr)
	if !ok {
		return false
	}
	for _, p := range trusted {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// asPublicPeer gives the requests of the gateway's internal connection the
// public request's peer as their RemoteAddr, instead of "pipe". The gateway
// is that listener's only client, and appends the public peer's address to
// X-Forwarded-For (grpc-gateway's AnnotateContext); taking it back off
// leaves X-Forwarded-For as the public request had it, so that clientAddr
// and the rejected-deliveries list see the same sender on both hops.
func asPublicPeer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		last := strings.TrimSpace(hops[len(hops)-1])
		if _, ok := parseAddr(last); ok {
			r.RemoteAddr = last
			if rest := strings.TrimSpace(strings.Join(hops[:len(hops)-1], ",")); rest != "" {
				r.Header.Set("X-Forwarded-For", rest)
			} else {
				r.Header.Del("X-Forwarded-For")
			}
		}
		next.ServeHTTP(w, r)
	})
}
