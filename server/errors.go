package server

import (
	"errors"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	"github.com/callbackd/callbackd/internal/apierror"
)

// errorDomain is the ErrorInfo domain of every error callbackd returns.
const errorDomain = "callbackd"

// Every status callbackd answers comes from the reason of its error
// (apierror.Of) and that reason's row of the apierror table. The tests that
// check each row are named in docs/errors.md, which TestErrorTableIsDocumented
// compares with the table.

// answer is how callbackd answers one error, on every protocol.
type answer struct {
	reason apierror.Reason
	rule   apierror.Rule
	msg    string
}

// decide looks up err's reason in the table.
func decide(err error) answer {
	a := answer{reason: apierror.Of(err), msg: err.Error()}
	a.rule = a.reason.Rule()
	if a.reason == apierror.Internal {
		// Unforeseen errors may carry database details; callers get a
		// reason only.
		a.msg = "internal error"
	}
	return a
}

// toConnectError converts any error from the domain into a *connect.Error
// with an ErrorInfo detail that names the reason, so that every protocol,
// the REST gateway included, answers the same way. Nil stays nil (an
// untyped one).
func toConnectError(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	a := decide(err)
	out := connect.NewError(a.rule.Code, errors.New(a.msg))
	if detail, derr := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: string(a.reason), Domain: errorDomain}); derr == nil {
		out.AddDetail(detail)
	}
	return out
}

// errorBody is the JSON body of every REST error, and the value of the
// "error" line that ends a REST stream.
type errorBody struct {
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// restError derives the HTTP status and body of an error that crossed the
// gRPC hop between the gateway and the handlers: its reason (from ErrorInfo,
// or the generic reason of its code when a framework raised it) decides the
// status, as for every other error.
func restError(err error) (int, errorBody) {
	st := status.Convert(err)
	code := connect.Code(st.Code())
	reason := apierror.ForCode(code)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == errorDomain {
			reason = apierror.Reason(info.GetReason())
		}
	}
	return reason.Rule().HTTP, errorBody{Code: code.String(), Reason: string(reason), Message: st.Message()}
}

// writeRPCError answers a REST request with err, an error from the gRPC hop.
func writeRPCError(w http.ResponseWriter, err error) {
	httpStatus, body := restError(err)
	writeJSONError(w, httpStatus, body)
}

// writeError answers a plain HTTP request (one that never reached the gRPC
// hop) with the same status and body the gateway would give err.
func writeError(w http.ResponseWriter, err error) {
	a := decide(err)
	writeJSONError(w, a.rule.HTTP, errorBody{Code: a.rule.Code.String(), Reason: string(a.reason), Message: a.msg})
}
