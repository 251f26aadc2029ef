package ingest

import (
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrRateLimited: the remote address sent too many deliveries that failed
// authentication recently (HTTP 429). Checked before the signature, so a
// flood of forged callbacks costs a map lookup each, not an HMAC per secret.
var ErrRateLimited = &RejectError{reason: "rate_limited", msg: "too many failed deliveries from this address; slow down"}

// maxTrackedAddrs bounds the limiter's memory under address churn.
const maxTrackedAddrs = 10000

// failureLimiter is a token bucket per remote address, spent only by
// deliveries that fail authentication: a sender with valid signatures is
// never limited, however fast it sends.
type failureLimiter struct {
	limit rate.Limit
	burst int

	mu    sync.Mutex
	addrs map[string]*rate.Limiter
}

// newFailureLimiter allows perSecond failures per address with burst; a
// non-positive perSecond disables limiting (nil limiter).
func newFailureLimiter(perSecond float64, burst int) *failureLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	return &failureLimiter{limit: rate.Limit(perSecond), burst: burst, addrs: map[string]*rate.Limiter{}}
}

// host drops the port of a remote address.
func host(remoteAddr string) string {
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return h
	}
	return remoteAddr
}

// blocked reports whether addr has no failure budget left.
func (l *failureLimiter) blocked(addr string, now time.Time) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.addrs[host(addr)]
	return ok && lim.TokensAt(now) < 1
}

// failed spends one token of addr's budget.
func (l *failureLimiter) failed(addr string, now time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := host(addr)
	lim, ok := l.addrs[h]
	if !ok {
		if len(l.addrs) >= maxTrackedAddrs {
			l.sweep(now)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.addrs[h] = lim
	}
	lim.AllowN(now, 1)
}

// sweep forgets addresses whose budget has refilled (they are as if never
// seen); if that frees nothing, it forgets everything rather than grow.
func (l *failureLimiter) sweep(now time.Time) {
	for h, lim := range l.addrs {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.addrs, h)
		}
	}
	if len(l.addrs) >= maxTrackedAddrs {
		clear(l.addrs)
	}
}
