package server

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/watch"
)

var statusToProto = map[callback.Status]callbacksv1.CallbackStatus{
	callback.StatusReceived:  callbacksv1.CallbackStatus_CALLBACK_STATUS_RECEIVED,
	callback.StatusProcessed: callbacksv1.CallbackStatus_CALLBACK_STATUS_PROCESSED,
	callback.StatusError:     callbacksv1.CallbackStatus_CALLBACK_STATUS_ERROR,
}

var statusFromProto = map[callbacksv1.CallbackStatus]callback.Status{
	callbacksv1.CallbackStatus_CALLBACK_STATUS_RECEIVED:  callback.StatusReceived,
	callbacksv1.CallbackStatus_CALLBACK_STATUS_PROCESSED: callback.StatusProcessed,
	callbacksv1.CallbackStatus_CALLBACK_STATUS_ERROR:     callback.StatusError,
}

// timestamp converts a time, leaving zero times unset.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// text is a string as a protobuf message may carry it: valid UTF-8, else
// marshalling the whole message fails (on every protocol: binary protobuf
// and JSON alike). The store reads valid text already; this holds for any
// callback.Store, since one bad row must never fail a list or end a watch.
func text(s string) string { return callback.StorableText(s, 0) }

// callbackToProto converts a callback without its payload bytes and views.
func callbackToProto(c *callback.Callback) *callbacksv1.Callback {
	return &callbacksv1.Callback{
		Id:               c.ID.String(),
		CallbackId:       text(c.Key),
		EventType:        text(c.EventType),
		KnownEvent:       c.KnownEvent,
		Status:           statusToProto[c.Status],
		ExternalJobId:    text(c.ExternalJobID),
		WorkflowName:     text(c.WorkflowName),
		StepId:           text(c.StepID),
		ErrorMessage:     text(c.ErrorMessage),
		PayloadPreview:   text(c.PayloadPreview),
		DeliveryCount:    int32(c.DeliveryCount),
		CreateTime:       timestamp(c.CreatedAt),
		UpdateTime:       timestamp(c.UpdatedAt),
		LastDeliveryTime: timestamp(c.LastDeliveryAt),
		UserAgent:        text(c.UserAgent),
		ViewedByMe:       c.ViewedByMe,
		Signature: &callbacksv1.Signature{
			Valid:      c.Signature.Valid,
			Scheme:     text(c.Signature.Scheme),
			KeyName:    text(c.Signature.KeyName),
			VerifyTime: timestamp(c.Signature.VerifiedAt),
		},
	}
}

// viewToProto converts a view.
func viewToProto(v *callback.View) *callbacksv1.CallbackView {
	return &callbacksv1.CallbackView{
		CallbackId: v.CallbackID.String(),
		AdminId:    v.AdminID.String(),
		AdminName:  text(v.AdminName),
		ViewTime:   timestamp(v.ViewedAt),
	}
}

// changeToProto converts a change-feed entry.
func changeToProto(c callback.Change) *callbacksv1.CallbackEvent {
	e := &callbacksv1.CallbackEvent{Cursor: watch.FormatCursor(c.Seq), Traceparent: callback.TraceParent(c.Trace)}
	switch c.Kind {
	case callback.ChangeReceived:
		e.Event = &callbacksv1.CallbackEvent_Received{Received: callbackToProto(c.Callback)}
	case callback.ChangeRedelivered:
		e.Event = &callbacksv1.CallbackEvent_Redelivered{Redelivered: callbackToProto(c.Callback)}
	case callback.ChangeViewed:
		e.Event = &callbacksv1.CallbackEvent_Viewed{Viewed: viewToProto(c.View)}
	case callback.ChangeViewedMany:
		e.Event = &callbacksv1.CallbackEvent_ViewedMany{ViewedMany: viewBatchToProto(c.Batch)}
	}
	return e
}

// viewBatchToProto converts the feed entry of a MarkAllViewed.
func viewBatchToProto(b *callback.ViewBatch) *callbacksv1.CallbackViewBatch {
	return &callbacksv1.CallbackViewBatch{
		AdminId:   b.AdminID.String(),
		AdminName: text(b.AdminName),
		ViewTime:  timestamp(b.ViewedAt),
		Count:     b.Count,
	}
}

// statsToProto converts a summary.
func statsToProto(s callback.Stats) *callbacksv1.CallbackStats {
	out := &callbacksv1.CallbackStats{
		Count:              s.Count,
		ByStatus:           make(map[string]int64, len(s.ByStatus)),
		ByEventType:        s.ByEventType,
		FailuresByCategory: s.FailuresByCategory,
		PromptTokens:       s.PromptTokens,
		CompletionTokens:   s.CompletionTokens,
		TotalTokens:        s.TotalTokens,
		CostUsd:            s.CostUSD,
		DurationCount:      s.DurationCount,
		DurationP50Ms:      s.DurationP50MS,
		DurationP95Ms:      s.DurationP95MS,
	}
	for k, v := range s.ByStatus {
		out.ByStatus[string(k)] = v
	}
	return out
}
