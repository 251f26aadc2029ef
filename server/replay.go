package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/replay"
)

// Replayer sends a stored body to an admin's target; *replay.Replayer
// implements it, with the server's replay policy.
type Replayer interface {
	Check(req replay.Request) error
	Replay(ctx context.Context, req replay.Request) (replay.Outcome, error)
}

// replayMetrics counts replays by outcome.
type replayMetrics struct {
	total *prometheus.CounterVec
}

// newReplayMetrics registers callbackd_replays_total.
func newReplayMetrics(reg prometheus.Registerer) (*replayMetrics, error) {
	m := &replayMetrics{total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callbackd_replays_total",
		Help: "ReplayCallback calls by outcome: the class of the target's status (2xx ... 5xx), or the reason of the refusal or failure (docs/errors.md).",
	}, []string{"outcome"})}
	if err := reg.Register(m.total); err != nil {
		return nil, err
	}
	return m, nil
}

// ReplayCallback POSTs a stored callback's exact body to the admin's target
// and reports the answer. Every call, refused or not, is logged with the
// admin, the callback, the target's host (never its path or query, which
// may hold a receiver's token) and the outcome, and counted.
func (h *adminHandler) ReplayCallback(ctx context.Context, req *connect.Request[callbacksv1.ReplayCallbackRequest]) (*connect.Response[callbacksv1.ReplayCallbackResponse], error) {
	m := req.Msg
	r := replay.Request{Target: m.GetTargetUrl(), Secret: m.GetSecret(), Scheme: m.GetSignatureScheme()}
	out, err := h.replay(ctx, m.GetId(), r)
	me := adminFrom(ctx)
	outcome, level := string(apierror.Of(err)), slog.LevelWarn
	if err == nil {
		outcome, level = fmt.Sprintf("%dxx", out.Status/100), slog.LevelInfo
	}
	h.replays.total.WithLabelValues(outcome).Inc()
	attrs := []any{"admin", me.Name, "admin_id", me.ID.String(), "callback", truncateForMessage(m.GetId()), "target_host", targetHost(m.GetTargetUrl()), "outcome", outcome, "signed", m.GetSecret() != ""}
	if err == nil {
		attrs = append(attrs, "status", out.Status, "latency", out.Latency, "remote_addr", out.RemoteAddr)
	} else {
		attrs = append(attrs, "err", err.Error())
	}
	h.log.Log(ctx, level, "replay", attrs...)
	if err != nil {
		return nil, err
	}
	res := &callbacksv1.ReplayCallbackResponse{
		StatusCode:      int32(out.Status),
		Latency:         durationpb.New(out.Latency),
		BodySnippet:     out.Snippet,
		BodyTruncated:   out.Truncated,
		RemoteAddr:      out.RemoteAddr,
		SignatureScheme: out.Scheme,
		BodyBytes:       int64(out.BodyBytes),
	}
	for _, hd := range out.Headers {
		res.Headers = append(res.Headers, &callbacksv1.ReplayHeader{Name: hd.Name, Value: hd.Value})
	}
	return connect.NewResponse(res), nil
}

// replay checks the request, loads the callback and sends its body.
func (h *adminHandler) replay(ctx context.Context, rawID string, r replay.Request) (replay.Outcome, error) {
	// What needs no database first: replay turned off, a bad target.
	if err := h.replayer.Check(r); err != nil {
		return replay.Outcome{}, err
	}
	id, err := parseID(rawID)
	if err != nil {
		return replay.Outcome{}, err
	}
	c, err := h.store.Get(ctx, id, adminFrom(ctx).ID)
	if err != nil {
		return replay.Outcome{}, err
	}
	r.Body, r.EventType, r.MessageID = c.Payload, c.EventType, "msg_"+c.ID.String()
	return h.replayer.Replay(ctx, r)
}

// targetHost is the host of a target URL for logs: bounded, and "" when
// it has none.
func targetHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return truncateForMessage(u.Host)
}
