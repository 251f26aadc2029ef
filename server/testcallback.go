package server

import (
	"context"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/ingest"
	"github.com/callbackd/callbackd/internal/webhook"
)

// Signer signs bodies the way the LLM service does, with a configured
// secret; *webhook.Verifier implements it.
type Signer interface {
	SignLLMBody(body []byte) (signature, keyName string)
}

// SendTestCallback signs a sample payload and hands it to the ingester,
// which verifies and stores it as it would a delivery from the LLM service.
func (h *adminHandler) SendTestCallback(ctx context.Context, req *connect.Request[callbacksv1.SendTestCallbackRequest]) (*connect.Response[callbacksv1.SendTestCallbackResponse], error) {
	event := req.Msg.GetEventType()
	if event == "" {
		event = callback.EventWorkflowCompleted
	}
	job := uuid.NewString()
	p, err := callback.SamplePayload(event, job, "", h.now())
	if err != nil {
		return nil, apierror.New(apierror.InvalidEventType, err.Error())
	}
	body, err := webhook.PythonJSON(p)
	if err != nil {
		return nil, err
	}
	signature, keyName := h.signer.SignLLMBody(body)
	header := make(http.Header, 2)
	header.Set(webhook.HeaderLLMSignature, signature)
	header.Set("X-Webhook-Event", event)
	res, err := h.ingester.Ingest(ctx, ingest.Request{
		Body:       body,
		Header:     header,
		UserAgent:  "callbackd test callback",
		RemoteAddr: req.Peer().Addr,
		RequestID:  requestIDFrom(ctx),
	})
	if r := apierror.Of(err); err != nil && r != apierror.Unavailable && r != apierror.Canceled && r != apierror.DeadlineExceeded {
		// The server signed this delivery itself: a refusal is the server's
		// fault, not the admin's request (and not, say, a 401 for an admin
		// who is signed in). Unavailable stays itself: the admin may retry.
		// An unforeseen error's text may hold database details: only its
		// reason is told, as for any internal error.
		why := err.Error()
		if r == apierror.Internal {
			why = "internal error"
		}
		err = apierror.New(apierror.TestCallbackRefused, fmt.Sprintf("the ingester refused the test callback: %s (%s)", why, r))
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&callbacksv1.SendTestCallbackResponse{
		Id: res.ID.String(), CallbackId: res.Key, ExternalJobId: job, KeyName: keyName,
	}), nil
}
