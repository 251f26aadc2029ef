package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/grpchealth"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/callback"
)

// readinessTimeout bounds one database check.
const readinessTimeout = 2 * time.Second

// healthChecker answers grpc.health.v1: SERVING while the database answers.
// Readiness, not liveness: a load balancer should route elsewhere while the
// database is down, but nothing should restart the process for it.
type healthChecker struct {
	store callback.Store
}

// Check pings the database for the whole server ("") and for each service.
func (c *healthChecker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	switch req.Service {
	case "", "callbacks.v1.CallbackIngestService", "callbacks.v1.CallbackAdminService":
	default:
		return nil, grpchealthNotFound(req.Service)
	}
	ctx, cancel := context.WithTimeout(ctx, readinessTimeout)
	defer cancel()
	if err := c.store.Ping(ctx); err != nil {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

// healthz is liveness: the process serves HTTP. It never touches the
// database, so a database outage does not get the process restarted.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz is readiness: 200 while the database answers, 503 otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readinessTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.deps.Store.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// grpchealthNotFound is the answer the health protocol prescribes for an
// unknown service name: NotFound.
func grpchealthNotFound(service string) error {
	return toConnectError(apierror.New(apierror.NotFound, fmt.Sprintf("unknown service %q", service)))
}
