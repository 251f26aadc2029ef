package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/callbackd/callbackd/internal/auth"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/ingest"
	"github.com/callbackd/callbackd/internal/webhook"
)

// errorDomain is the ErrorInfo domain of every error callbackd returns.
const errorDomain = "callbackd"

// errorRule maps a class of domain errors to its gRPC code and its HTTP
// status. The table below is the only place where callbackd decides status
// codes; docs/errors.md mirrors it row by row, and the status-table tests
// of cmd/callbackd (TestWebhookStatusTable, TestBadInputs and
// TestBadInputTableIsDocumented, the admission tests) check each row.
type errorRule struct {
	match func(error) bool
	code  connect.Code
	http  int
}

// is matches errors that wrap target.
func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// isPayloadError matches every rejection of callback.ParsePayload.
func isPayloadError(err error) bool {
	var pe *callback.PayloadError
	return errors.As(err, &pe)
}

// errorRules is ordered: the first rule that matches wins.
var errorRules = []errorRule{
	// Webhook authentication: the sender must fix its signature or secret.
	{is(webhook.ErrSignatureMissing), connect.CodeUnauthenticated, http.StatusUnauthorized},
	{is(webhook.ErrSignatureMalformed), connect.CodeUnauthenticated, http.StatusUnauthorized},
	{is(webhook.ErrSignatureMismatch), connect.CodeUnauthenticated, http.StatusUnauthorized},
	{is(webhook.ErrTimestampMalformed), connect.CodeUnauthenticated, http.StatusUnauthorized},
	{is(webhook.ErrTimestampOutOfTolerance), connect.CodeUnauthenticated, http.StatusUnauthorized},
	// Delivery shape: retrying the same bytes cannot succeed.
	{is(ingest.ErrRateLimited), connect.CodeResourceExhausted, http.StatusTooManyRequests},
	{is(ingest.ErrBodyTooLarge), connect.CodeResourceExhausted, http.StatusRequestEntityTooLarge},
	{is(ingest.ErrUnsupportedMediaType), connect.CodeInvalidArgument, http.StatusUnsupportedMediaType},
	{is(ingest.ErrUnsupportedContentEncoding), connect.CodeInvalidArgument, http.StatusUnsupportedMediaType},
	{is(ingest.ErrBodyUnreadable), connect.CodeInvalidArgument, http.StatusBadRequest},
	{isPayloadError, connect.CodeInvalidArgument, http.StatusBadRequest},
	// Admin credentials: 401 asks for a credential, 403 says this one is
	// valid but not an admin's.
	{isAuthError(auth.ErrUnauthenticated), connect.CodeUnauthenticated, http.StatusUnauthorized},
	{isAuthError(auth.ErrPermissionDenied), connect.CodePermissionDenied, http.StatusForbidden},
	// Admission limits: what is read and held for a caller (server/limits.go).
	{is(errAuthRateLimited), connect.CodeResourceExhausted, http.StatusTooManyRequests},
	{is(errRequestTooLarge), connect.CodeResourceExhausted, http.StatusRequestEntityTooLarge},
	{is(errTooManyStreams), connect.CodeResourceExhausted, http.StatusTooManyRequests},
	{is(errStreamIdle), connect.CodeDeadlineExceeded, http.StatusRequestTimeout},
	// Admin reads.
	{is(callback.ErrNotFound), connect.CodeNotFound, http.StatusNotFound},
	// Retryable: the sender retries on 503, and nothing was acknowledged.
	{is(callback.ErrUnavailable), connect.CodeUnavailable, http.StatusServiceUnavailable},
	{is(ingest.ErrClosed), connect.CodeUnavailable, http.StatusServiceUnavailable},
}

// reasonError carries a machine reason chosen by a transport adapter (for
// request validation that has no domain sentinel).
type reasonError struct {
	code   connect.Code
	reason string
	msg    string
}

func (e *reasonError) Error() string { return e.msg }

// invalidArgument reports a malformed request field.
func invalidArgument(reason, msg string) error {
	return &reasonError{code: connect.CodeInvalidArgument, reason: reason, msg: msg}
}

// answer is how callbackd answers one error, on every protocol.
type answer struct {
	code       connect.Code
	httpStatus int
	reason     string
	msg        string
}

// decide applies errorRules (and the request-validation and context
// cases) to err.
func decide(err error) answer {
	a := answer{code: connect.CodeInternal, httpStatus: http.StatusInternalServerError, reason: "internal"}
	var re *reasonError
	switch {
	case errors.As(err, &re):
		a.code, a.reason = re.code, re.reason
		a.httpStatus = runtime.HTTPStatusFromCode(codes.Code(a.code))
	case errors.Is(err, context.Canceled):
		a.code, a.httpStatus, a.reason = connect.CodeCanceled, 499, "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		a.code, a.httpStatus, a.reason = connect.CodeDeadlineExceeded, http.StatusGatewayTimeout, "deadline_exceeded"
	default:
		for _, r := range errorRules {
			if r.match(err) {
				a.code, a.httpStatus, a.reason = r.code, r.http, reasonOf(err)
				break
			}
		}
	}
	a.msg = err.Error()
	if a.code == connect.CodeInternal {
		// Internal errors may carry database details; callers get a reason only.
		a.msg = "internal error"
	}
	return a
}

// toConnectError converts any error from the domain into a *connect.Error
// with an ErrorInfo detail that names the reason and the HTTP status, so that
// every protocol, the REST gateway included, answers the same way.
func toConnectError(err error) *connect.Error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	a := decide(err)
	out := connect.NewError(a.code, errors.New(a.msg))
	if detail, derr := connect.NewErrorDetail(&errdetails.ErrorInfo{
		Reason:   a.reason,
		Domain:   errorDomain,
		Metadata: map[string]string{"http_status": strconv.Itoa(a.httpStatus)},
	}); derr == nil {
		out.AddDetail(detail)
	}
	return out
}

// reasonOf names an error for clients, logs and metrics.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, callback.ErrNotFound):
		return "not_found"
	case isAuthError(auth.ErrUnauthenticated)(err):
		// The precise reason is logged, not told: it would help forgers.
		return "unauthenticated"
	case isAuthError(auth.ErrPermissionDenied)(err):
		return "permission_denied"
	case errors.Is(err, errAuthRateLimited):
		return "rate_limited"
	case errors.Is(err, errRequestTooLarge):
		return "request_too_large"
	case errors.Is(err, errTooManyStreams):
		return "too_many_streams"
	case errors.Is(err, errStreamIdle):
		return "stream_idle"
	}
	return ingest.Reason(err)
}

// errorBody is the JSON body of every REST error.
type errorBody struct {
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// restError derives the HTTP status and body of an error that crossed the
// gRPC hop between the gateway and the handlers.
func restError(err error) (int, errorBody) {
	st := status.Convert(err)
	body := errorBody{Code: connect.Code(st.Code()).String(), Message: st.Message()}
	httpStatus := runtime.HTTPStatusFromCode(st.Code())
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain {
			continue
		}
		body.Reason = info.GetReason()
		if s, err := strconv.Atoi(info.GetMetadata()["http_status"]); err == nil && s >= 400 && s <= 599 {
			httpStatus = s
		}
	}
	if body.Reason == "" {
		body.Reason = reasonFromCode(st.Code())
	}
	return httpStatus, body
}

// reasonFromCode names errors raised outside our handlers (by the gateway or
// the gRPC runtime) that carry no ErrorInfo.
func reasonFromCode(c codes.Code) string {
	switch c {
	case codes.InvalidArgument:
		return "invalid_argument"
	case codes.Unimplemented:
		return "unimplemented"
	case codes.Unavailable:
		return "unavailable"
	case codes.Unauthenticated:
		return "unauthenticated"
	case codes.PermissionDenied:
		return "permission_denied"
	case codes.NotFound:
		return "not_found"
	}
	return "internal"
}

// writeError answers a plain HTTP request (one that never reached the gRPC
// hop) with the same status and body the gateway would give err.
func writeError(w http.ResponseWriter, err error) {
	a := decide(err)
	writeJSONError(w, a.httpStatus, errorBody{Code: a.code.String(), Reason: a.reason, Message: a.msg})
}
