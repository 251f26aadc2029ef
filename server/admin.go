package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/buildinfo"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/watch"
)

// Limits of CheckCallbacks.
const (
	defaultCheckSize = 100
	maxCheckSize     = 1000
)

// Publisher tells watchers about a change committed outside the ingest path
// (a view).
type Publisher interface {
	Publish(results []callback.SaveResult)
}

// adminHandler adapts CallbackAdminService to the store and the watch hub.
// Every call arrives through the auth interceptor, which puts the caller's
// identity in the context; nothing here takes an identity from a request.
type adminHandler struct {
	callbacksv1connect.UnimplementedCallbackAdminServiceHandler
	store     callback.Store
	hub       *watch.Hub
	publisher Publisher
	heartbeat time.Duration
	now       func() time.Time
	signer    Signer
	ingester  Ingester
	alerts    Alerts // nil: alerts off
	replayer  Replayer
	replays   *replayMetrics
	log       *slog.Logger
	events    eventCache
	// developmentSecret and build are what GetServerInfo reports.
	developmentSecret bool
	build             buildinfo.Info
}

// ListCallbacks returns one page, newest first.
func (h *adminHandler) ListCallbacks(ctx context.Context, req *connect.Request[callbacksv1.ListCallbacksRequest]) (*connect.Response[callbacksv1.ListCallbacksResponse], error) {
	me := adminFrom(ctx)
	m := req.Msg
	// The store applies the default and the maximum (callback.ListQuery).
	if m.GetPageSize() < 0 {
		return nil, apierror.New(apierror.InvalidPageSize, "page_size must not be negative")
	}
	q, err := listFilter(m)
	if err != nil {
		return nil, err
	}
	q.Viewer, q.UnviewedOnly, q.PageSize = me.ID, m.GetUnviewedOnly(), int(m.GetPageSize())
	filters := filterDigest(m)
	if tok := m.GetPageToken(); tok != "" {
		after, err := decodePageToken(tok, filters)
		if err != nil {
			return nil, err
		}
		q.After = after
	}
	page, err := h.store.List(ctx, q)
	if err != nil {
		return nil, err
	}
	res := &callbacksv1.ListCallbacksResponse{Callbacks: make([]*callbacksv1.Callback, len(page.Callbacks))}
	for i := range page.Callbacks {
		res.Callbacks[i] = callbackToProto(&page.Callbacks[i])
	}
	if page.Next != nil {
		res.NextPageToken = encodePageToken(*page.Next, filters)
	}
	if m.GetIncludeTotalSize() {
		q.After = nil
		n, err := h.store.Count(ctx, q)
		if err != nil {
			return nil, err
		}
		res.TotalSize, res.TotalSizeIsEstimate = n.N, n.Estimate
	}
	if m.GetIncludeUnviewedCount() {
		n, err := h.store.Count(ctx, callback.ListQuery{Viewer: me.ID, UnviewedOnly: true})
		if err != nil {
			return nil, err
		}
		res.UnviewedCount, res.UnviewedCountIsEstimate = n.N, n.Estimate
	}
	return connect.NewResponse(res), nil
}

// filterRequest is what ListCallbacks, GetCallbackStats and MarkAllViewed
// requests share: the filters.
type filterRequest interface {
	GetStatus() callbacksv1.CallbackStatus
	GetEventType() string
	GetWorkflowName() string
	GetExternalJobId() string
	GetCreateTimeAfter() *timestamppb.Timestamp
	GetCreateTimeBefore() *timestamppb.Timestamp
	GetQuery() string
}

// listFilter checks a request's filters and returns them as a query,
// without viewer or paging.
func listFilter(m filterRequest) (callback.ListQuery, error) {
	q := callback.ListQuery{
		EventType:     m.GetEventType(),
		WorkflowName:  m.GetWorkflowName(),
		ExternalJobID: m.GetExternalJobId(),
		Query:         m.GetQuery(),
	}
	if m.GetStatus() != callbacksv1.CallbackStatus_CALLBACK_STATUS_UNSPECIFIED {
		s, ok := statusFromProto[m.GetStatus()]
		if !ok {
			return q, apierror.New(apierror.InvalidStatus, fmt.Sprintf("status: unknown value %d", m.GetStatus()))
		}
		q.Status = s
	}
	for name, ts := range map[string]*timestamppb.Timestamp{"create_time_after": m.GetCreateTimeAfter(), "create_time_before": m.GetCreateTimeBefore()} {
		if ts != nil && ts.CheckValid() != nil {
			return q, apierror.New(apierror.InvalidTime, name+": not a valid timestamp")
		}
	}
	if m.GetCreateTimeAfter() != nil {
		q.CreatedAfter = m.GetCreateTimeAfter().AsTime()
	}
	if m.GetCreateTimeBefore() != nil {
		q.CreatedBefore = m.GetCreateTimeBefore().AsTime()
	}
	if _, err := callback.ParseQuery(q.Query); err != nil {
		return q, apierror.New(apierror.InvalidQuery, "query: "+err.Error())
	}
	return q, nil
}

// bucketFromProto maps the bucket widths of GetCallbackStats.
var bucketFromProto = map[callbacksv1.StatsBucket]callback.Bucket{
	callbacksv1.StatsBucket_STATS_BUCKET_UNSPECIFIED: callback.BucketHour,
	callbacksv1.StatsBucket_STATS_BUCKET_MINUTE:      callback.BucketMinute,
	callbacksv1.StatsBucket_STATS_BUCKET_HOUR:        callback.BucketHour,
	callbacksv1.StatsBucket_STATS_BUCKET_DAY:         callback.BucketDay,
}

// defaultStatsRange is the range of GetCallbackStats without a start.
const defaultStatsRange = 24 * time.Hour

// GetCallbackStats summarises a range of callbacks.
func (h *adminHandler) GetCallbackStats(ctx context.Context, req *connect.Request[callbacksv1.GetCallbackStatsRequest]) (*connect.Response[callbacksv1.GetCallbackStatsResponse], error) {
	m := req.Msg
	q, err := listFilter(m)
	if err != nil {
		return nil, err
	}
	bucket, ok := bucketFromProto[m.GetBucket()]
	if !ok {
		return nil, apierror.New(apierror.InvalidBucket, fmt.Sprintf("bucket: unknown value %d", m.GetBucket()))
	}
	if q.CreatedBefore.IsZero() {
		q.CreatedBefore = h.now().UTC()
	}
	if q.CreatedAfter.IsZero() {
		q.CreatedAfter = q.CreatedBefore.Add(-defaultStatsRange)
	}
	// Buckets are aligned in UTC, so the range may touch one more at
	// each end than its length holds.
	span := q.CreatedBefore.Sub(q.CreatedAfter)
	switch {
	case span <= 0:
		return nil, apierror.New(apierror.InvalidRange, "create_time_after must be before create_time_before")
	case span/bucket.Duration() > callback.MaxStatsBuckets:
		return nil, apierror.New(apierror.InvalidRange, fmt.Sprintf("the range holds more than %d buckets; choose a wider bucket or a shorter range", callback.MaxStatsBuckets))
	}
	report, err := h.store.Stats(ctx, callback.StatsQuery{Filter: q, Bucket: bucket})
	if err != nil {
		return nil, err
	}
	res := &callbacksv1.GetCallbackStatsResponse{Total: statsToProto(report.Total), DurationsEstimated: report.DurationsEstimated}
	for _, b := range report.Buckets {
		res.Buckets = append(res.Buckets, &callbacksv1.CallbackStatsBucket{StartTime: timestamp(b.Start), Stats: statsToProto(b.Stats)})
	}
	for _, w := range report.Workflows {
		res.Workflows = append(res.Workflows, &callbacksv1.WorkflowStats{WorkflowName: text(w.WorkflowName), Stats: statsToProto(w.Stats)})
	}
	return connect.NewResponse(res), nil
}

// MarkAllViewed marks every matching callback viewed by the caller and
// tells watchers once.
func (h *adminHandler) MarkAllViewed(ctx context.Context, req *connect.Request[callbacksv1.MarkAllViewedRequest]) (*connect.Response[callbacksv1.MarkAllViewedResponse], error) {
	q, err := listFilter(req.Msg)
	if err != nil {
		return nil, err
	}
	me := adminFrom(ctx)
	batch, err := h.store.MarkAllViewed(ctx, q, me.ID, me.Name, h.now().UTC())
	if err != nil {
		return nil, err
	}
	if batch.Count > 0 && h.publisher != nil {
		h.publisher.Publish(nil)
	}
	return connect.NewResponse(&callbacksv1.MarkAllViewedResponse{Marked: batch.Count}), nil
}

// GetCallback returns one callback in full.
func (h *adminHandler) GetCallback(ctx context.Context, req *connect.Request[callbacksv1.GetCallbackRequest]) (*connect.Response[callbacksv1.GetCallbackResponse], error) {
	id, err := parseID(req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	c, err := h.store.Get(ctx, id, adminFrom(ctx).ID)
	if err != nil {
		return nil, err
	}
	pc := callbackToProto(&c)
	pc.Payload = c.Payload
	var parsed any
	if json.Unmarshal(c.Payload, &parsed) == nil {
		if v, err := structpb.NewValue(parsed); err == nil {
			pc.PayloadJson = v
		}
	}
	for _, v := range c.Views {
		pc.Views = append(pc.Views, viewToProto(&v))
	}
	return connect.NewResponse(&callbacksv1.GetCallbackResponse{Callback: pc}), nil
}

// MarkViewed records the caller's view and tells watchers when it is new.
func (h *adminHandler) MarkViewed(ctx context.Context, req *connect.Request[callbacksv1.MarkViewedRequest]) (*connect.Response[callbacksv1.MarkViewedResponse], error) {
	id, err := parseID(req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	me := adminFrom(ctx)
	v, created, err := h.store.MarkViewed(ctx, id, me.ID, me.Name, h.now().UTC())
	if err != nil {
		return nil, err
	}
	if created && h.publisher != nil {
		h.publisher.Publish(nil)
	}
	return connect.NewResponse(&callbacksv1.MarkViewedResponse{View: viewToProto(&v)}), nil
}

// CheckCallbacks returns the events after a cursor: WatchCallbacks for
// clients that poll.
func (h *adminHandler) CheckCallbacks(ctx context.Context, req *connect.Request[callbacksv1.CheckCallbacksRequest]) (*connect.Response[callbacksv1.CheckCallbacksResponse], error) {
	size := int(req.Msg.GetPageSize())
	switch {
	case size < 0:
		return nil, apierror.New(apierror.InvalidPageSize, "page_size must not be negative")
	case size == 0:
		size = defaultCheckSize
	case size > maxCheckSize:
		size = maxCheckSize
	}
	if req.Msg.GetAfter() == "" {
		last, err := h.store.LastSeq(ctx)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(&callbacksv1.CheckCallbacksResponse{NextCursor: watch.FormatCursor(last)}), nil
	}
	after, err := watch.ParseCursor(req.Msg.GetAfter())
	if err != nil {
		return nil, apierror.New(apierror.InvalidCursor, "after: not a cursor: "+quote(req.Msg.GetAfter()))
	}
	changes, err := h.store.Changes(ctx, after, size+1)
	if err != nil {
		return nil, err
	}
	h.hub.Traced(changes) // the deliveries' trace context, as watch events carry it
	if len(changes) == 0 {
		// Nothing after the cursor: it is the end of the feed, or past it
		// (a cursor of a database that was replaced), which WatchCallbacks
		// refuses too.
		last, err := h.store.LastSeq(ctx)
		if err != nil {
			return nil, err
		}
		if after > last {
			return nil, apierror.New(apierror.InvalidCursor, "after: "+quote(req.Msg.GetAfter())+" is past the end of the feed (was the database replaced?)")
		}
	}
	res := &callbacksv1.CheckCallbacksResponse{NextCursor: req.Msg.GetAfter()}
	if len(changes) > size {
		changes, res.More = changes[:size], true
	}
	for _, c := range changes {
		res.Events = append(res.Events, changeToProto(c))
		res.NextCursor = watch.FormatCursor(c.Seq)
	}
	return connect.NewResponse(res), nil
}

// WatchCallbacks streams the change feed from a cursor, with heartbeats.
func (h *adminHandler) WatchCallbacks(ctx context.Context, req *connect.Request[callbacksv1.WatchCallbacksRequest], stream *connect.ServerStream[callbacksv1.WatchCallbacksResponse]) error {
	sub, err := h.hub.Subscribe(ctx, req.Msg.GetCursor())
	if err != nil {
		return err
	}
	defer sub.Close()
	// The first message says where the stream starts, so a client that
	// connected with no cursor can resume from there. Later heartbeats carry
	// the cursor of the last event sent (never one the subscription has read
	// but not yet sent), so resuming from any message loses nothing.
	sent := sub.Cursor()
	if err := stream.Send(heartbeat(sent, h.now())); err != nil {
		return err
	}
	for {
		// Waiting at most one heartbeat interval for the next event: an
		// idle stream gets a heartbeat instead.
		wait, cancel := context.WithTimeout(ctx, h.heartbeat)
		c, err := sub.Next(wait)
		cancel()
		switch {
		case err == nil:
			msg := h.events.message(c)
			if err := stream.Send(msg); err != nil {
				return err
			}
			sent = msg.GetEvent().GetCursor()
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			if err := stream.Send(heartbeat(sent, h.now())); err != nil {
				return err
			}
		default:
			return watchEnd(ctx, err, sent)
		}
	}
}

// watchEnd chooses how a watch stream ends. When the server is stopping,
// the end is Unavailable, the retryable code, with the cursor to resume from
// (on another replica, or this one once it is back).
func watchEnd(ctx context.Context, err error, cursor string) error {
	switch {
	case errors.Is(err, watch.ErrStopped), errors.Is(context.Cause(ctx), errServerStopping):
		if errors.Is(context.Cause(ctx), errServerStopping) {
			err = watch.ErrStopped
		}
		return apierror.New(apierror.Unavailable, fmt.Sprintf("%v (cursor %s)", err, cursor))
	case ctx.Err() != nil:
		return nil // the client left
	}
	return err
}

// ListRejectedDeliveries returns this replica's recent rejections.
func (h *adminHandler) ListRejectedDeliveries(context.Context, *connect.Request[callbacksv1.ListRejectedDeliveriesRequest]) (*connect.Response[callbacksv1.ListRejectedDeliveriesResponse], error) {
	res := &callbacksv1.ListRejectedDeliveriesResponse{}
	for _, r := range h.ingester.Rejections() {
		res.Rejected = append(res.Rejected, &callbacksv1.RejectedDelivery{
			ReceiveTime:      timestamp(r.At),
			Reason:           r.Reason,
			Message:          r.Message,
			RemoteAddr:       r.RemoteAddr,
			BodyBytes:        int64(r.BodyBytes),
			EventHeader:      r.EventHeader,
			UserAgent:        r.UserAgent,
			SignatureHeaders: r.SignatureHeaders,
			RequestId:        r.RequestID,
		})
	}
	return connect.NewResponse(res), nil
}

// heartbeat builds a heartbeat message.
func heartbeat(cursor string, now time.Time) *callbacksv1.WatchCallbacksResponse {
	return &callbacksv1.WatchCallbacksResponse{Message: &callbacksv1.WatchCallbacksResponse_Heartbeat{
		Heartbeat: &callbacksv1.Heartbeat{Cursor: cursor, Time: timestamppb.New(now)},
	}}
}

// parseID parses a callback id.
func parseID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, apierror.New(apierror.InvalidID, fmt.Sprintf("id %q is not a UUID", truncateForMessage(s)))
	}
	return id, nil
}

// truncateForMessage bounds request text echoed in error messages.
func truncateForMessage(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// pageToken is the decoded form of an opaque page token. It carries a digest
// of the filters it was made for, so that reusing it with other filters is
// an error rather than a silently wrong page.
type pageToken struct {
	CreatedAt int64     `json:"t"`
	ID        uuid.UUID `json:"i"`
	Filters   string    `json:"f"`
}

func encodePageToken(p callback.PageToken, filters string) string {
	b, _ := json.Marshal(pageToken{CreatedAt: p.CreatedAt.UnixMicro(), ID: p.ID, Filters: filters})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s, filters string) (*callback.PageToken, error) {
	var p pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &p) != nil || p.ID == uuid.Nil {
		return nil, apierror.New(apierror.InvalidPageToken, "page_token: malformed")
	}
	if p.Filters != filters {
		return nil, apierror.New(apierror.InvalidPageToken, "page_token: made for other filters; keep the filters of the first page")
	}
	// A time no callback can have (outside what a Timestamp holds) would
	// reach the database as a parameter that PostgreSQL refuses.
	at := time.UnixMicro(p.CreatedAt).UTC()
	if timestamppb.New(at).CheckValid() != nil {
		return nil, apierror.New(apierror.InvalidPageToken, "page_token: malformed")
	}
	return &callback.PageToken{CreatedAt: at, ID: p.ID}, nil
}

// filterDigest summarises the filters of a list request.
func filterDigest(m *callbacksv1.ListCallbacksRequest) string {
	h := sha256.New()
	for _, s := range []string{m.GetEventType(), m.GetWorkflowName(), m.GetExternalJobId(), m.GetStatus().String()} {
		_ = binary.Write(h, binary.BigEndian, int64(len(s)))
		h.Write([]byte(s))
	}
	for _, ts := range []*timestamppb.Timestamp{m.GetCreateTimeAfter(), m.GetCreateTimeBefore()} {
		_ = binary.Write(h, binary.BigEndian, ts.AsTime().UnixNano())
	}
	_ = binary.Write(h, binary.BigEndian, m.GetUnviewedOnly())
	// Only a search changes the digest, so that tokens made before search
	// existed stay valid.
	if q := m.GetQuery(); q != "" {
		_ = binary.Write(h, binary.BigEndian, int64(len(q)))
		h.Write([]byte(q))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}
