package ingest

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrRateLimited: a delivery failed authentication, and its sender has
// failed too often recently (HTTP 429). It is decided after the signature
// check, so a delivery with a valid signature is never refused, whoever else
// shares its address; a forger only learns to slow down.
var ErrRateLimited = &RejectError{reason: "rate_limited", msg: "too many failed deliveries from this address; slow down"}

// maxTrackedSenders bounds the limiter's memory under address churn: about
// a hundred bytes per sender.
const maxTrackedSenders = 10000

// sweepInterval spaces out the sweeps of a full table, so that a flood of new
// addresses costs one scan of it per interval, not one per delivery.
const sweepInterval = time.Second

// ipv6SenderBits is the prefix length that keys an IPv6 sender: one
// customer's network is usually a /64, and its addresses are free to choose.
const ipv6SenderBits = 64

// failureLimiter is a token bucket per sender, spent only by deliveries that
// fail authentication: a sender with valid signatures is never limited,
// however fast it sends. A sender is an IPv4 address or an IPv6 /64.
//
// The table never forgets a sender whose budget is not full again, so that
// rotating source addresses cannot reset it: when it is full (and sweeping
// the refilled senders frees nothing), senders not in it share one overflow
// bucket.
type failureLimiter struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	senders   map[string]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

// newFailureLimiter allows perSecond failures per sender with burst; a
// non-positive perSecond disables limiting (nil limiter).
func newFailureLimiter(perSecond float64, burst int) *failureLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	return &failureLimiter{
		limit:    rate.Limit(perSecond),
		burst:    burst,
		senders:  map[string]*rate.Limiter{},
		overflow: rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// senderKey names the sender of a remote address ("ip:port" or "ip"): the
// IPv4 address, or the IPv6 /64. An address that does not parse is its own
// key, cut to a bounded size.
func senderKey(remoteAddr string) string {
	h := remoteAddr
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		h = host
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return bounded(h, maxRemoteAddrBytes)
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip, ipv6SenderBits).Masked().String()
}

// fail spends one token of the budget of remoteAddr's sender for a delivery
// that failed authentication, and reports whether the budget allowed it
// (false: answer ErrRateLimited).
func (l *failureLimiter) fail(remoteAddr string, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucket(senderKey(remoteAddr), now).AllowN(now, 1)
}

// bucket returns the sender's bucket, adding one while the table has room,
// and the shared overflow bucket once it has none.
func (l *failureLimiter) bucket(key string, now time.Time) *rate.Limiter {
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
func (l *failureLimiter) sweep(now time.Time) {
	for key, lim := range l.senders {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.senders, key)
		}
	}
}
