package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
)

// Authenticator checks admin credentials; package auth implements it.
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (auth.Identity, error)
}

// identityKey holds the authenticated admin in request contexts.
type identityKey struct{}

// adminFrom returns the admin the auth interceptor authenticated. Admin
// handlers run only behind that interceptor.
func adminFrom(ctx context.Context) auth.Identity {
	id, _ := ctx.Value(identityKey{}).(auth.Identity)
	return id
}

// adminProcedurePrefix selects the RPCs that require an admin: every method
// of CallbackAdminService, present and future. The ingest service (webhook
// signatures), health and reflection stay outside.
const adminProcedurePrefix = "/" + callbacksv1connect.CallbackAdminServiceName + "/"

// authInterceptor authenticates every admin RPC on every protocol: gRPC,
// gRPC-Web and Connect directly, and REST through the gateway, whose
// requests reach the same handlers over its in-process connection with the
// Authorization header forwarded. The identity comes from the credential
// only.
type authInterceptor struct {
	auth     Authenticator
	log      *slog.Logger
	failures *prometheus.CounterVec
}

func newAuthInterceptor(a Authenticator, log *slog.Logger, reg prometheus.Registerer) (*authInterceptor, error) {
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callbackd_admin_auth_failures_total",
		Help: "Admin requests refused, by reason.",
	}, []string{"reason"})
	if err := reg.Register(failures); err != nil {
		return nil, err
	}
	return &authInterceptor{auth: a, log: log, failures: failures}, nil
}

// authenticate returns ctx with the caller's identity, or the refusal.
func (i *authInterceptor) authenticate(ctx context.Context, procedure, authorization string) (context.Context, error) {
	if !strings.HasPrefix(procedure, adminProcedurePrefix) {
		return ctx, nil
	}
	id, err := i.auth.Authenticate(ctx, authorization)
	if err != nil {
		i.failures.WithLabelValues(auth.Reason(err)).Inc()
		i.log.InfoContext(ctx, "admin request refused", "procedure", procedure, "auth", err)
		return nil, toConnectError(err)
	}
	if !id.Admin { // Authenticate promises an error then; never trust a non-admin
		return nil, toConnectError(auth.ErrPermissionDenied)
	}
	return context.WithValue(ctx, identityKey{}, id), nil
}

func (i *authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := i.authenticate(ctx, req.Spec().Procedure, req.Header().Get("Authorization"))
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (i *authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.authenticate(ctx, conn.Spec().Procedure, conn.RequestHeader().Get("Authorization"))
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// isAuthError matches refusals of the Authenticator.
func isAuthError(kind error) func(error) bool {
	return func(err error) bool {
		var ae *auth.Error
		return errors.Is(err, kind) || (errors.As(err, &ae) && ae.Kind == kind)
	}
}
