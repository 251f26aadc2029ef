package main

import (
	"context"
	"fmt"
	"time"

	callbackclient "github.com/callbackd/callbackd/clients/go"
	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

// ForwardCmd re-delivers callbacks to a local URL.
type ForwardCmd struct {
	To        string `required:"" help:"URL to deliver each callback to, e.g. http://localhost:3000/hook."`
	Secret    string `help:"Secret to re-sign each delivery with (callbackd never stores the original signatures). Default for --scheme llm: the LLM service's development secret." env:"LLM_WEBHOOK_SECRET"`
	Scheme    string `help:"Signature scheme of the re-signed deliveries: llm, standard-webhooks, github or stripe." enum:"llm,standard-webhooks,github,stripe" default:"llm"`
	Cursor    string `help:"Start after this cursor; default: from now."`
	UserAgent string `help:"User-Agent of deliveries whose original one is unknown." default:"LLM Job Service/1.0"`
}

// Run watches the stream and, for each received or redelivered callback,
// fetches its exact body and POSTs it to --to with fresh signature headers,
// logging one line per delivery. A failed delivery is logged, not retried.
func (c *ForwardCmd) Run(ctx context.Context, g *Globals) error {
	client, err := g.client()
	if err != nil {
		return err
	}
	defer client.Close()
	s, err := newSigner(c.Scheme, c.Secret, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "callbackctl: forwarding new callbacks to %s, re-signed with your secret (%s)\n", c.To, c.Scheme)
	return client.Watch(ctx, callbackclient.WatchOptions{Cursor: c.Cursor, OnRetry: retryLogger(g.stderr)}, func(ev *callbacksv1.CallbackEvent) error {
		kind, cb := "received", ev.GetReceived()
		if cb == nil {
			kind, cb = "redelivered", ev.GetRedelivered()
		}
		if cb == nil {
			return nil // a view: nothing to deliver
		}
		full, err := client.Get(ctx, cb.GetId())
		if err != nil {
			return fmt.Errorf("get callback %s: %w", cb.GetId(), err)
		}
		userAgent := full.GetUserAgent()
		if userAgent == "" {
			userAgent = c.UserAgent
		}
		// One webhook-id per logical callback, as a sender keeps it across
		// redeliveries.
		signed := s
		signed.msgID = "msg_" + full.GetId()
		start := time.Now()
		status, _, err := deliver(ctx, c.To, signed, full.GetEventType(), userAgent, full.GetPayload())
		result := fmt.Sprintf("%d (%s)", status, time.Since(start).Round(time.Millisecond))
		if err != nil {
			result = "failed: " + err.Error()
		}
		_, err = fmt.Fprintf(g.stdout, "%s %s %s id=%s -> %s\n", time.Now().UTC().Format(time.RFC3339), kind, full.GetEventType(), full.GetId(), result)
		return err
	})
}
