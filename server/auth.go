package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/auth"
	"github.com/callbackd/callbackd/internal/failurelimit"
	"github.com/callbackd/callbackd/internal/session"
)

// Authenticator checks admin credentials; package auth implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (auth.Identity, error)
}

// identityKey holds the authenticated admin in request contexts.
type identityKey struct{}

// adminFrom returns the admin that authGate authenticated. Admin handlers
// are reachable only through the gate (see Server.admitRPC).
func adminFrom(ctx context.Context) auth.Identity {
	id, _ := ctx.Value(identityKey{}).(auth.Identity)
	return id
}

// adminProcedurePrefix selects the RPCs that require an admin: every method
// of CallbackAdminService, present and future. The ingest service (webhook
// signatures), health and reflection stay outside.
const adminProcedurePrefix = "/" + callbacksv1connect.CallbackAdminServiceName + "/"

// adminRESTPrefix selects the REST gateway's admin routes.
const adminRESTPrefix = "/api/admin/"

// errAuthRateLimited: the remote address failed admin authentication too
// often recently (429). Only failures spend the budget and a valid
// credential is checked before it, so a flood from a shared address never
// locks out an admin.
var errAuthRateLimited = apierror.New(apierror.RateLimited, "too many failed authentications from this address; slow down")

// authGate authenticates admin requests from their headers alone, before
// any of the body is read, on every protocol: gRPC, gRPC-Web and Connect
// directly, and REST both at its public route and where the gateway's
// requests reach the handlers over its in-process connection (with the
// Authorization header forwarded). The identity comes from the credential
// only. Failures are logged with the remote address and request id and,
// per address, throttled.
type authGate struct {
	auth     Authenticator
	log      *slog.Logger
	trusted  []netip.Prefix
	limiter  *failurelimit.Limiter // nil: failures are not throttled
	failures *prometheus.CounterVec
	// signIn reads session cookies; nil when browser sessions are off.
	signIn *signIn
}

func newAuthGate(a Authenticator, log *slog.Logger, trusted []netip.Prefix, limiter *failurelimit.Limiter, reg prometheus.Registerer) (*authGate, error) {
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callbackd_admin_auth_failures_total",
		Help: "Admin requests refused, by reason (rate_limited: refused by the per-address failure throttle).",
	}, []string{"reason"})
	if err := reg.Register(failures); err != nil {
		return nil, err
	}
	return &authGate{auth: a, log: log, trusted: trusted, limiter: limiter, failures: failures}, nil
}

// check authenticates r's Authorization header and returns the admin, or
// the refusal: an auth error (401/403), or errAuthRateLimited when the
// credential is invalid and the address has no failure budget left. With
// cookies true (an RPC from the console, never REST) a request without an
// Authorization header may be authenticated by its session cookie instead
// (signIn.fromCookie: same origin and the CSRF token required).
func (g *authGate) check(r *http.Request, cookies bool) (auth.Identity, error) {
	ctx := r.Context()
	var (
		id     auth.Identity
		err    error
		cookie bool
	)
	if cookies && g.signIn != nil && r.Header.Get("Authorization") == "" {
		id, cookie, err = g.signIn.fromCookie(r)
		if r := apierror.Of(err); r == apierror.Unavailable || r == apierror.Internal {
			return auth.Identity{}, err // the store failed: no one's fault
		}
	}
	if !cookie {
		id, err = g.auth.Authenticate(ctx, r.Header.Get("Authorization"))
	}
	if err == nil && !id.Admin { // Authenticate promises an error then; never trust a non-admin
		err = auth.ErrPermissionDenied
	}
	if err == nil {
		return id, nil
	}
	addr := clientAddr(r.RemoteAddr, r.Header, g.trusted)
	attrs := []any{"remote_addr", addr, "request_id", requestIDFrom(ctx), "method", r.Method, "path", r.URL.Path, "auth", err}
	if apierror.Of(err) == apierror.PermissionDenied {
		// A valid credential of someone who is not an admin: not a guess,
		// so it does not spend the address's failure budget.
		g.failures.WithLabelValues(auth.Detail(err)).Inc()
		g.log.WarnContext(ctx, "admin request refused: not an admin", attrs...)
		return auth.Identity{}, err
	}
	if !g.limiter.Fail(addr, time.Now()) {
		// Not logged one by one: a flood would flood the logs too. The
		// counter shows it.
		g.failures.WithLabelValues("rate_limited").Inc()
		return auth.Identity{}, errAuthRateLimited
	}
	g.failures.WithLabelValues(failureLabel(err)).Inc()
	g.log.WarnContext(ctx, "admin authentication failed", attrs...)
	return auth.Identity{}, err
}

// failureLabel is the reason label of a failed authentication's metric.
func failureLabel(err error) string {
	if errors.Is(err, session.ErrCSRF) {
		return string(apierror.CSRFRefused)
	}
	return auth.Detail(err)
}

// isAdminPath reports whether path needs an admin: an admin RPC or a REST
// admin route.
func isAdminPath(path string) bool {
	return strings.HasPrefix(path, adminProcedurePrefix) || strings.HasPrefix(path, adminRESTPrefix)
}
