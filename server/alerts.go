package server

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/alert/rules"
	"github.com/callbackd/callbackd/internal/apierror"
)

// Page sizes of ListAlertDeliveries.
const (
	defaultAlertPage = 25
	maxAlertPage     = 100
)

// ListAlertRules returns the configured rules, without any channel's
// address or secret.
func (h *adminHandler) ListAlertRules(context.Context, *connect.Request[callbacksv1.ListAlertRulesRequest]) (*connect.Response[callbacksv1.ListAlertRulesResponse], error) {
	res := &callbacksv1.ListAlertRulesResponse{}
	if h.alerts == nil {
		return connect.NewResponse(res), nil
	}
	cfg := h.alerts.Config()
	res.Enabled = true
	for _, r := range cfg.Rules {
		rule := &callbacksv1.AlertRule{
			Name: r.Name, Kind: r.Kind(), Summary: r.Summary(), Channels: r.Channels, GroupBy: r.GroupByOrDefault(),
			GroupWindow: durationpb.New(r.Window()), MinInterval: durationpb.New(r.MinInterval),
		}
		for _, name := range r.Channels {
			ch, _ := cfg.ChannelByName(name)
			rule.ChannelKinds = append(rule.ChannelKinds, ch.Kind())
		}
		res.Rules = append(res.Rules, rule)
	}
	return connect.NewResponse(res), nil
}

// ListAlertDeliveries returns a page of deliveries, newest first.
func (h *adminHandler) ListAlertDeliveries(ctx context.Context, req *connect.Request[callbacksv1.ListAlertDeliveriesRequest]) (*connect.Response[callbacksv1.ListAlertDeliveriesResponse], error) {
	size := int(req.Msg.GetPageSize())
	switch {
	case size < 0:
		return nil, apierror.New(apierror.InvalidPageSize, "page_size must not be negative")
	case size == 0:
		size = defaultAlertPage
	case size > maxAlertPage:
		size = maxAlertPage
	}
	res := &callbacksv1.ListAlertDeliveriesResponse{}
	if h.alerts == nil {
		if req.Msg.GetPageToken() != "" {
			return nil, apierror.New(apierror.InvalidPageToken, "invalid page token")
		}
		return connect.NewResponse(res), nil
	}
	ds, next, err := h.alerts.Deliveries(ctx, size, req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		res.Deliveries = append(res.Deliveries, alertDelivery(d))
	}
	res.NextPageToken = next
	return connect.NewResponse(res), nil
}

func alertDelivery(d rules.Delivery) *callbacksv1.AlertDelivery {
	out := &callbacksv1.AlertDelivery{
		Id: d.ID, AlertId: d.Notice.ID, Rule: d.Notice.Rule, Channel: d.Channel, Status: d.Status,
		Title: d.Notice.Title, State: d.Notice.State, Count: int32(min(d.Notice.Count, 1<<31-1)), Link: d.Notice.Link,
		Attempts: int32(d.Attempts), MaxAttempts: int32(d.MaxAttempts),
		CreateTime: timestamp(d.CreatedAt), NextAttemptTime: timestamp(d.NextAttemptAt), FinishTime: timestamp(d.FinishedAt),
	}
	for _, e := range d.Errors {
		out.Errors = append(out.Errors, &callbacksv1.AlertAttemptError{Attempt: int32(e.Attempt), Time: timestamp(e.At), Error: e.Error})
	}
	return out
}
