// Package failurelimit keeps a failure budget per network sender: a token
// bucket spent only by requests that failed authentication, so that a
// flood of guesses slows down its sender while valid requests, whoever
// shares the address, are never refused by it. The webhook route and the
// admin API each keep one.
package failurelimit

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxTrackedSenders bounds the limiter's memory under address churn: about
// a hundred bytes per sender.
const maxTrackedSenders = 10000

// maxKeyBytes bounds the key of an address that does not parse (an
// in-process caller, a proxy's garbage).
const maxKeyBytes = 64

// sweepInterval spaces out the sweeps of a full table, so that a flood of new
// addresses costs one scan of it per interval, not one per request.
const sweepInterval = time.Second

// ipv6SenderBits is the prefix length that keys an IPv6 sender: one
// customer's network is usually a /64, and its addresses are free to choose.
const ipv6SenderBits = 64

// Limiter is a token bucket per sender, spent only by requests that fail
// authentication: a sender whose requests authenticate is never limited,
// however fast it sends. A sender is an IPv4 address or an IPv6 /64.
//
// The table never forgets a sender whose budget is not full again, so that
// rotating source addresses cannot reset it: when it is full (and sweeping
// the refilled senders frees nothing), senders not in it share one overflow
// bucket.
type Limiter struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	senders   map[string]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

// New allows perSecond failures per sender with burst; a
// non-positive perSecond disables limiting (nil limiter).
func New(perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	return &Limiter{
		limit:    rate.Limit(perSecond),
		burst:    burst,
		senders:  map[string]*rate.Limiter{},
		overflow: rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// SenderKey names the sender of a remote address ("ip:port" or "ip"): the
// IPv4 address, or the IPv6 /64. An address that does not parse is its own
// key, cut to a bounded size.
func SenderKey(remoteAddr string) string {
	h := remoteAddr
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		h = host
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		if len(h) > maxKeyBytes {
			h = h[:maxKeyBytes]
		}
		return h
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip, ipv6SenderBits).Masked().String()
}

// Fail spends one token of the budget of remoteAddr's sender for a request
// that failed authentication, and reports whether the budget allowed it
// (false: refuse the request as rate limited).
func (l *Limiter) Fail(remoteAddr string, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucket(SenderKey(remoteAddr), now).AllowN(now, 1)
}

// bucket returns the sender's bucket, adding one while the table has room,
// and the shared overflow bucket once it has none.
func (l *Limiter) bucket(key string, now time.Time) *rate.Limiter {
	if lim, ok := l.senders[key]; ok {
		return lim
	}
	if len(l.senders) >= maxTrackedSenders && now.Sub(l.lastSweep) >= sweepInterval {
		l.lastSweep = now
		l.sweep(now)
	}
	if len(l.senders) >= maxTrackedSenders {
		return l.overflow
	}
	lim := rate.NewLimiter(l.limit, l.burst)
	l.senders[key] = lim
	return lim
}

// sweep forgets the senders whose budget has refilled: they are as if never
// seen. A sender still short of its budget is kept, however full the table.
func (l *Limiter) sweep(now time.Time) {
	for key, lim := range l.senders {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.senders, key)
		}
	}
}
