package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/callbackd/callbackd/callback"
	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/webhook"
)

// Signer signs bodies the way the LLM service does, with a configured
// secret; *webhook.Verifier implements it.
type Signer interface {
	SignLLMBody(body []byte) (signature, keyName string)
}

// SendTestCallback signs a sample payload and posts it to the webhook route.
func (h *adminHandler) SendTestCallback(ctx context.Context, req *connect.Request[callbacksv1.SendTestCallbackRequest]) (*connect.Response[callbacksv1.SendTestCallbackResponse], error) {
	event := req.Msg.GetEventType()
	if event == "" {
		event = callback.EventWorkflowCompleted
	}
	job := uuid.NewString()
	p, err := callback.SamplePayload(event, job, "", h.now())
	if err != nil {
		return nil, toConnectError(invalidArgument("invalid_event_type", err.Error()))
	}
	body, err := webhook.PythonJSON(p)
	if err != nil {
		return nil, toConnectError(err)
	}
	signature, keyName := h.signer.SignLLMBody(body)
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/webhooks/llm-callback", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(webhook.HeaderLLMSignature, signature)
	r.Header.Set("X-Webhook-Event", event)
	r.Header.Set("User-Agent", "callbackd test callback")
	r.RemoteAddr = "self"
	w := httptest.NewRecorder()
	h.route().ServeHTTP(w, r)
	var ok struct {
		ID         string `json:"id"`
		CallbackID string `json:"callback_id"`
	}
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &ok) != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("the webhook route answered %d: %s", w.Code, bytes.TrimSpace(w.Body.Bytes())))
	}
	return connect.NewResponse(&callbacksv1.SendTestCallbackResponse{
		Id: ok.ID, CallbackId: ok.CallbackID, ExternalJobId: job, KeyName: keyName,
	}), nil
}
