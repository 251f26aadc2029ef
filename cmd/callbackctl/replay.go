package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	callbackclient "github.com/callbackd/callbackd/clients/go"
	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

// ReplayCmd has the server replay one stored callback to a URL. Unlike
// forward, the delivery leaves from the server, under its replay policy
// (README, "Replay to a URL"), and its answer comes back.
type ReplayCmd struct {
	ID     string `arg:"" help:"Callback id (UUID)."`
	To     string `required:"" help:"http(s) URL the server POSTs the exact body to. The server refuses loopback, private and link-local addresses unless its --replay-allow opens them."`
	Secret string `help:"Secret to re-sign the delivery with. Without it the delivery is sent UNSIGNED: callbackd never keeps the original signature headers." env:"CALLBACKCTL_REPLAY_SECRET"`
	Scheme string `help:"Signature scheme of --secret: llm, standard-webhooks, github or stripe." enum:"llm,standard-webhooks,github,stripe" default:"llm"`
}

// Run asks for the replay and prints the target's answer: its status,
// latency, headers and the start of its body. A target's error status is an
// answer, printed and exit 0; a refusal or a target that never answered is
// an error (exit 1, or 2 for a bad request, 4 for an unknown id).
func (c *ReplayCmd) Run(ctx context.Context, g *Globals) error {
	client, err := g.client()
	if err != nil {
		return err
	}
	defer client.Close()
	req := &callbacksv1.ReplayCallbackRequest{Id: c.ID, TargetUrl: c.To, Secret: c.Secret}
	if c.Secret != "" {
		req.SignatureScheme = c.Scheme
	} else {
		fmt.Fprintln(g.stderr, "callbackctl: no --secret: the replay is sent unsigned (the original signature headers are not kept)")
	}
	res, err := client.Replay(ctx, req)
	if err != nil {
		return replayError(err)
	}
	if g.Output == "json" {
		return writeJSON(g.stdout, res)
	}
	signed := "unsigned"
	if res.GetSignatureScheme() != "" {
		signed = "signed " + res.GetSignatureScheme()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d in %s from %s (%d bytes sent, %s)\n", res.GetStatusCode(), res.GetLatency().AsDuration().Round(100_000), res.GetRemoteAddr(), res.GetBodyBytes(), signed)
	for _, h := range res.GetHeaders() {
		fmt.Fprintf(&b, "%s: %s\n", h.GetName(), h.GetValue())
	}
	if s := res.GetBodySnippet(); s != "" {
		b.WriteString("\n" + strings.TrimRight(s, "\n") + "\n")
	}
	if res.GetBodyTruncated() {
		b.WriteString("… (the rest of the answer was not read)\n")
	}
	_, err = fmt.Fprint(g.stdout, b.String())
	return err
}

// replayError gives a failed replay its exit code: a bad URL or secret is a
// usage error (2); the policy refusing the target is not an authentication
// failure, though its code is PermissionDenied, so it exits 1 like the other
// failures of the target; the admin's own credential keeps exit 3.
func replayError(err error) error {
	switch callbackclient.Code(err) {
	case connect.CodeInvalidArgument:
		if reason(err) != "invalid_id" {
			return &codedError{exitUsage, err}
		}
	case connect.CodePermissionDenied:
		if reason(err) == "replay_target_forbidden" {
			return &codedError{exitError, err}
		}
	}
	return err
}

// reason returns the ErrorInfo reason callbackd put on an RPC error.
func reason(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if info, ok := v.(*errdetails.ErrorInfo); ok && info.GetDomain() == "callbackd" {
				return info.GetReason()
			}
		}
	}
	return ""
}
