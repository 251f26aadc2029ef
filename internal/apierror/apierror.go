// Package apierror is callbackd's error vocabulary: every error a client is
// told about names a Reason, and the Reason alone decides the gRPC (and
// Connect) code and the HTTP status, in one table. Domain packages refuse
// with New and a Reason; transports ask Of for the reason and Reason.Rule
// for how to answer. docs/errors.md shows the table, and a test compares the
// two row by row.
package apierror

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"connectrpc.com/connect"
)

// Reason is a stable machine name for a class of error: the reason of the
// google.rpc.ErrorInfo detail on gRPC and Connect, the "reason" of a REST
// error body, the outcome label of metrics and the rejected-deliveries list.
type Reason string

// Error is implemented by every error that names its reason: those made by
// New, and domain types that carry more (auth.Error keeps the precise cause
// of a failed authentication for logs).
type Error interface {
	error
	Reason() Reason
}

// New returns an error with reason r and message msg. Sentinel errors made
// with New compare by identity, so errors.Is works on them.
func New(r Reason, msg string) error { return &reasoned{reason: r, msg: msg} }

// reasoned is the error New returns.
type reasoned struct {
	reason Reason
	msg    string
}

func (e *reasoned) Error() string  { return e.msg }
func (e *reasoned) Reason() Reason { return e.reason }

// Of returns the reason of err: "" for nil, Canceled and DeadlineExceeded
// for context errors (a caller that left, or a deadline that passed, whatever
// the operation was doing), the Reason of the first Error in its chain, and
// Internal for anything else.
func Of(err error) Reason {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	}
	if e, ok := errors.AsType[Error](err); ok {
		if _, known := table[e.Reason()]; known {
			return e.Reason()
		}
	}
	return Internal
}

// Rule is how callbackd answers one reason, on every protocol.
type Rule struct {
	// Code is the gRPC and Connect code.
	Code connect.Code
	// HTTP is the status of REST and webhook answers. (Connect's own
	// protocol derives its HTTP status from Code, as its specification
	// says.)
	HTTP int
}

// Rule returns how r is answered; an unknown reason is answered as Internal.
func (r Reason) Rule() Rule {
	if rule, ok := table[r]; ok {
		return rule
	}
	return table[Internal]
}

// Reasons returns every reason of the table, sorted.
func Reasons() []Reason {
	out := make([]Reason, 0, len(table))
	for r := range table {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// ForCode names an error that carries a code and no reason (one raised by a
// framework rather than by callbackd): the generic reason of that code.
func ForCode(c connect.Code) Reason {
	switch c {
	case connect.CodeInvalidArgument:
		return InvalidArgument
	case connect.CodeUnimplemented:
		return Unimplemented
	case connect.CodeUnavailable:
		return Unavailable
	case connect.CodeUnauthenticated:
		return Unauthenticated
	case connect.CodePermissionDenied:
		return PermissionDenied
	case connect.CodeNotFound:
		return NotFound
	case connect.CodeResourceExhausted:
		return ResourceExhausted
	case connect.CodeCanceled:
		return Canceled
	case connect.CodeDeadlineExceeded:
		return DeadlineExceeded
	}
	return Internal
}

// The reasons, grouped as docs/errors.md groups them.
const (
	// Webhook authentication: the sender must fix its signature or secret.
	SignatureMissing        Reason = "signature_missing"
	SignatureMalformed      Reason = "signature_malformed"
	SignatureMismatch       Reason = "signature_mismatch"
	TimestampMalformed      Reason = "timestamp_malformed"
	TimestampOutOfTolerance Reason = "timestamp_out_of_tolerance"

	// Delivery shape: retrying the same bytes cannot succeed.
	BodyTooLarge               Reason = "body_too_large"
	UnsupportedMediaType       Reason = "unsupported_media_type"
	UnsupportedContentEncoding Reason = "unsupported_content_encoding"
	BodyUnreadable             Reason = "body_unreadable"
	EmptyBody                  Reason = "empty_body"
	InvalidUTF8                Reason = "invalid_utf8"
	MalformedJSON              Reason = "malformed_json"
	NotObject                  Reason = "not_object"
	DuplicateKey               Reason = "duplicate_key"
	TooDeep                    Reason = "too_deep"
	MissingEvent               Reason = "missing_event"
	MissingJobID               Reason = "missing_job_id"
	MissingStepID              Reason = "missing_step_id"
	EventMismatch              Reason = "event_mismatch"
	EventTooLong               Reason = "event_too_long"
	JobIDTooLong               Reason = "job_id_too_long"
	StepIDTooLong              Reason = "step_id_too_long"

	// Credentials and throttling of callers.
	Unauthenticated  Reason = "unauthenticated"
	PermissionDenied Reason = "permission_denied"
	RateLimited      Reason = "rate_limited"
	// Browser sign-in: the session cookie and the OIDC login.
	CSRFRefused         Reason = "csrf_refused"
	SignInStateMismatch Reason = "sign_in_state_mismatch"
	SignInFailed        Reason = "sign_in_failed"
	SignInNotAdmin      Reason = "sign_in_not_admin"

	// Admission limits: what is read and held for a caller.
	RequestTooLarge Reason = "request_too_large"
	TooManyStreams  Reason = "too_many_streams"
	StreamIdle      Reason = "stream_idle"

	// Admin requests that do not decode or name nothing.
	InvalidID        Reason = "invalid_id"
	InvalidPageSize  Reason = "invalid_page_size"
	InvalidPageToken Reason = "invalid_page_token"
	InvalidStatus    Reason = "invalid_status"
	InvalidTime      Reason = "invalid_time"
	InvalidCursor    Reason = "invalid_cursor"
	InvalidEventType Reason = "invalid_event_type"
	InvalidQuery     Reason = "invalid_query"
	InvalidBucket    Reason = "invalid_bucket"
	InvalidRange     Reason = "invalid_range"
	UnknownField     Reason = "unknown_field"
	MalformedRequest Reason = "malformed_request"
	NotFound         Reason = "not_found"
	RouteNotFound    Reason = "route_not_found"
	MethodNotAllowed Reason = "method_not_allowed"

	// ReplayCallback: refused before anything is sent, or sent without
	// an answer.
	ReplayDisabled          Reason = "replay_disabled"
	InvalidReplayTarget     Reason = "invalid_replay_target"
	InvalidReplaySignature  Reason = "invalid_replay_signature"
	ReplayTargetForbidden   Reason = "replay_target_forbidden"
	ReplayTargetUnreachable Reason = "replay_target_unreachable"
	ReplayTargetTimeout     Reason = "replay_target_timeout"

	// The server's own state.
	Unavailable         Reason = "unavailable"
	TestCallbackRefused Reason = "test_callback_refused"
	Canceled            Reason = "canceled"
	DeadlineExceeded    Reason = "deadline_exceeded"
	Internal            Reason = "internal"

	// Generic reasons of errors raised by a framework (connect-go, the gRPC
	// runtime, the gateway) with a code and no reason.
	InvalidArgument   Reason = "invalid_argument"
	ResourceExhausted Reason = "resource_exhausted"
	Unimplemented     Reason = "unimplemented"
)

// table is the one place where callbackd decides codes and statuses. It is
// never written after initialisation.
var table = map[Reason]Rule{
	SignatureMissing:        {connect.CodeUnauthenticated, http.StatusUnauthorized},
	SignatureMalformed:      {connect.CodeUnauthenticated, http.StatusUnauthorized},
	SignatureMismatch:       {connect.CodeUnauthenticated, http.StatusUnauthorized},
	TimestampMalformed:      {connect.CodeUnauthenticated, http.StatusUnauthorized},
	TimestampOutOfTolerance: {connect.CodeUnauthenticated, http.StatusUnauthorized},

	BodyTooLarge:               {connect.CodeResourceExhausted, http.StatusRequestEntityTooLarge},
	UnsupportedMediaType:       {connect.CodeInvalidArgument, http.StatusUnsupportedMediaType},
	UnsupportedContentEncoding: {connect.CodeInvalidArgument, http.StatusUnsupportedMediaType},
	BodyUnreadable:             {connect.CodeInvalidArgument, http.StatusBadRequest},
	EmptyBody:                  {connect.CodeInvalidArgument, http.StatusBadRequest},
	InvalidUTF8:                {connect.CodeInvalidArgument, http.StatusBadRequest},
	MalformedJSON:              {connect.CodeInvalidArgument, http.StatusBadRequest},
	NotObject:                  {connect.CodeInvalidArgument, http.StatusBadRequest},
	DuplicateKey:               {connect.CodeInvalidArgument, http.StatusBadRequest},
	TooDeep:                    {connect.CodeInvalidArgument, http.StatusBadRequest},
	MissingEvent:               {connect.CodeInvalidArgument, http.StatusBadRequest},
	MissingJobID:               {connect.CodeInvalidArgument, http.StatusBadRequest},
	MissingStepID:              {connect.CodeInvalidArgument, http.StatusBadRequest},
	EventMismatch:              {connect.CodeInvalidArgument, http.StatusBadRequest},
	EventTooLong:               {connect.CodeInvalidArgument, http.StatusBadRequest},
	JobIDTooLong:               {connect.CodeInvalidArgument, http.StatusBadRequest},
	StepIDTooLong:              {connect.CodeInvalidArgument, http.StatusBadRequest},

	// 401 asks for a credential; 403 says this one is valid but not an
	// admin's.
	Unauthenticated:  {connect.CodeUnauthenticated, http.StatusUnauthorized},
	PermissionDenied: {connect.CodePermissionDenied, http.StatusForbidden},
	RateLimited:      {connect.CodeResourceExhausted, http.StatusTooManyRequests},
	// A cookie alone proves nothing about which page sent the request.
	CSRFRefused: {connect.CodePermissionDenied, http.StatusForbidden},
	// The callback does not belong to a login this browser started.
	SignInStateMismatch: {connect.CodeInvalidArgument, http.StatusBadRequest},
	// The provider refused, or what it returned did not verify.
	SignInFailed: {connect.CodeUnauthenticated, http.StatusUnauthorized},
	// The provider vouched for someone whom the admin rule excludes.
	SignInNotAdmin: {connect.CodePermissionDenied, http.StatusForbidden},

	RequestTooLarge: {connect.CodeResourceExhausted, http.StatusRequestEntityTooLarge},
	TooManyStreams:  {connect.CodeResourceExhausted, http.StatusTooManyRequests},
	StreamIdle:      {connect.CodeDeadlineExceeded, http.StatusRequestTimeout},

	InvalidID:        {connect.CodeInvalidArgument, http.StatusBadRequest},
	InvalidPageSize:  {connect.CodeInvalidArgument, http.StatusBadRequest},
	InvalidPageToken: {connect.CodeInvalidArgument, http.StatusBadRequest},
	InvalidStatus:    {connect.CodeInvalidArgument, http.StatusBadRequest},
	InvalidTime:      {connect.CodeInvalidArgument, http.StatusBadRequest},
	InvalidCursor:    {connect.CodeInvalidArgument, http.StatusBadRequest},
	InvalidEventType: {connect.CodeInvalidArgument, http.StatusBadRequest},
	InvalidQuery:     {connect.CodeInvalidArgument, http.StatusBadRequest},
	InvalidBucket:    {connect.CodeInvalidArgument, http.StatusBadRequest},
	InvalidRange:     {connect.CodeInvalidArgument, http.StatusBadRequest},
	UnknownField:     {connect.CodeInvalidArgument, http.StatusBadRequest},
	MalformedRequest: {connect.CodeInvalidArgument, http.StatusBadRequest},
	NotFound:         {connect.CodeNotFound, http.StatusNotFound},
	// The codes grpc-gateway gives routing failures.
	RouteNotFound:    {connect.CodeNotFound, http.StatusNotFound},
	MethodNotAllowed: {connect.CodeUnimplemented, http.StatusMethodNotAllowed},

	// The operator turned the feature off: no request can succeed.
	ReplayDisabled:         {connect.CodeFailedPrecondition, http.StatusForbidden},
	InvalidReplayTarget:    {connect.CodeInvalidArgument, http.StatusBadRequest},
	InvalidReplaySignature: {connect.CodeInvalidArgument, http.StatusBadRequest},
	// The policy forbids the address, whoever asks: 403, not the 401 of a
	// credential.
	ReplayTargetForbidden: {connect.CodePermissionDenied, http.StatusForbidden},
	// The server acted as a gateway to the target: 502 and 504 say that the
	// upstream, not callbackd, failed.
	ReplayTargetUnreachable: {connect.CodeUnavailable, http.StatusBadGateway},
	ReplayTargetTimeout:     {connect.CodeDeadlineExceeded, http.StatusGatewayTimeout},

	// Retryable: the sender retries on 503, and nothing was acknowledged.
	Unavailable: {connect.CodeUnavailable, http.StatusServiceUnavailable},
	// The server signed its test callback itself: a refusal other than
	// Unavailable is the server's fault, not the admin's request.
	TestCallbackRefused: {connect.CodeInternal, http.StatusInternalServerError},
	// 499 is the status nginx made common for a client that went away.
	Canceled:         {connect.CodeCanceled, 499},
	DeadlineExceeded: {connect.CodeDeadlineExceeded, http.StatusGatewayTimeout},
	Internal:         {connect.CodeInternal, http.StatusInternalServerError},

	InvalidArgument:   {connect.CodeInvalidArgument, http.StatusBadRequest},
	ResourceExhausted: {connect.CodeResourceExhausted, http.StatusTooManyRequests},
	Unimplemented:     {connect.CodeUnimplemented, http.StatusNotImplemented},
}
