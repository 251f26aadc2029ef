package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/webhook"
)

// webhookRoute is where callbackd receives the LLM service's callbacks.
const webhookRoute = "/api/webhooks/llm-callback"

// senderTimeout is the LLM service's request timeout.
const senderTimeout = 30 * time.Second

// Scheme names as the --scheme flags write them.
const (
	schemeLLM      = "llm"
	schemeStandard = "standard-webhooks"
	schemeGitHub   = "github"
	schemeStripe   = "stripe"
)

// SendCmd delivers a callback as the LLM service does.
type SendCmd struct {
	File      string `short:"f" help:"JSON payload to send; - reads stdin. It is re-serialised as the sender does (compact, sorted keys, \\uXXXX escapes)."`
	Sample    string `help:"Built-in sample payload to send: workflow.completed (the default without --file), workflow.failed or llm.step.completed." enum:"workflow.completed,workflow.failed,llm.step.completed," default:""`
	Secret    string `help:"Signing secret. Default for --scheme llm: the LLM service's development secret." env:"LLM_WEBHOOK_SECRET"`
	Event     string `help:"X-Webhook-Event header (default: the payload's event)."`
	JobID     string `name:"job-id" help:"Set the payload's job_id (default for samples: a fresh UUID)."`
	StepID    string `name:"step-id" help:"Set the payload's step_id (llm.step.completed)."`
	Repeat    int    `help:"Deliver N times; each repeat gets a fresh timestamp, so a new body and signature, as the sender's retries do. The server should keep one callback with N deliveries." default:"1"`
	Scheme    string `help:"Signature scheme: llm (the LLM service's), standard-webhooks, github or stripe." enum:"llm,standard-webhooks,github,stripe" default:"llm"`
	URL       string `name:"url" help:"Deliver to this URL instead of the server's ${route}."`
	UserAgent string `help:"User-Agent header." default:"LLM Job Service/1.0"`
}

// Run builds, signs and delivers the payload --repeat times and prints each
// answer of the server.
func (c *SendCmd) Run(ctx context.Context, g *Globals) error {
	if c.Repeat < 1 {
		return usageErrorf("--repeat %d: want at least 1", c.Repeat)
	}
	if c.File != "" && c.Sample != "" {
		return usageErrorf("--file and --sample: give one")
	}
	payload, err := c.payload(g.stdin)
	if err != nil {
		return err
	}
	event := c.Event
	if event == "" {
		event, _ = payload["event"].(string)
	}
	s, err := newSigner(c.Scheme, c.Secret, "msg_"+randomHex())
	if err != nil {
		return err
	}
	url := c.URL
	if url == "" {
		url = strings.TrimSuffix(g.Server, "/") + webhookRoute
	}
	for i := range c.Repeat {
		if i > 0 {
			payload["timestamp"] = senderTimestamp(time.Now())
		}
		body, err := webhook.PythonJSON(payload)
		if err != nil {
			return fmt.Errorf("serialise payload: %w", err)
		}
		status, answer, err := deliver(ctx, url, s, event, c.UserAgent, body)
		if err != nil {
			return err
		}
		if g.Output == "json" {
			err = writeCompact(g.stdout, answer)
		} else {
			_, err = fmt.Fprintf(g.stdout, "delivery %d/%d: %d %s %s\n", i+1, c.Repeat, status, http.StatusText(status), summarise(answer))
		}
		if err != nil {
			return err
		}
		if status/100 != 2 {
			return deliveryError(status)
		}
	}
	return nil
}

// payload reads or builds the payload to send.
func (c *SendCmd) payload(stdin io.Reader) (map[string]any, error) {
	if c.File == "" {
		jobID, event := c.JobID, c.Sample
		if jobID == "" {
			jobID = uuid.NewString()
		}
		if event == "" {
			event = callback.EventWorkflowCompleted
		}
		return callback.SamplePayload(event, jobID, c.StepID, time.Now())
	}
	var raw []byte
	var err error
	if c.File == "-" {
		raw, err = io.ReadAll(stdin)
	} else {
		raw, err = os.ReadFile(c.File)
	}
	if err != nil {
		return nil, fmt.Errorf("read payload: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers keep their text
	var p map[string]any
	if err := dec.Decode(&p); err != nil || p == nil {
		return nil, usageErrorf("payload %s: want one JSON object: %v", c.File, err)
	}
	if c.JobID != "" {
		p["job_id"] = c.JobID
	}
	if c.StepID != "" {
		p["step_id"] = c.StepID
	}
	return p, nil
}

// senderTimestamp writes t as the LLM service writes its timestamp field:
// isoformat() of an aware datetime plus "Z", so "+00:00Z".
func senderTimestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000") + "+00:00Z"
}

// randomHex returns 16 random hex digits.
func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// signer computes the signature headers of one scheme.
type signer struct {
	scheme, secret string
	// msgID is the Standard Webhooks webhook-id: one per logical message,
	// kept across its redeliveries.
	msgID string
}

// newSigner validates a scheme and its secret.
func newSigner(scheme, secret, msgID string) (signer, error) {
	if secret == "" {
		if scheme != schemeLLM {
			return signer{}, usageErrorf("--secret is required for --scheme %s", scheme)
		}
		secret = webhook.DevelopmentLLMSecret
	}
	s := signer{scheme: scheme, secret: secret, msgID: msgID}
	if _, err := s.headers(nil, time.Now()); err != nil {
		return signer{}, usageErrorf("--secret: %v", err)
	}
	return s, nil
}

// headers returns the signature headers of body sent at now.
func (s signer) headers(body []byte, now time.Time) (http.Header, error) {
	h := http.Header{}
	switch s.scheme {
	case schemeLLM:
		h.Set(webhook.HeaderLLMSignature, webhook.SignLLM(s.secret, body))
	case schemeGitHub:
		h.Set(webhook.HeaderGitHubSignature, webhook.SignGitHub(s.secret, body))
	case schemeStripe:
		h.Set(webhook.HeaderStripeSignature, webhook.SignStripe(s.secret, now, body))
	case schemeStandard:
		sig, err := webhook.SignStandard(s.secret, s.msgID, now, body)
		if err != nil {
			return nil, err
		}
		h.Set(webhook.HeaderStandardID, s.msgID)
		h.Set(webhook.HeaderStandardTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(webhook.HeaderStandardSignature, sig)
	}
	return h, nil
}

// deliver POSTs body to url with the sender's headers, freshly signed, and
// returns the answer's status and body.
func deliver(ctx context.Context, url string, s signer, event, userAgent string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, senderTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, usageErrorf("deliver to %s: %v", url, err)
	}
	signature, err := s.headers(body, time.Now())
	if err != nil {
		return 0, nil, err
	}
	req.Header = signature
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Event", event)
	req.Header.Set("User-Agent", userAgent)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("deliver to %s: %w", url, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("deliver to %s: read answer: %w", url, err)
	}
	return res.StatusCode, answer, nil
}

// summarise writes a JSON answer as key=value pairs, or as is.
func summarise(answer []byte) string {
	var fields map[string]any
	if json.Unmarshal(answer, &fields) != nil {
		return strings.TrimSpace(string(answer))
	}
	var out []string
	for _, k := range []string{"id", "callback_id", "duplicate", "code", "reason", "message"} {
		if v, ok := fields[k]; ok {
			out = append(out, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(out, " ")
}

// deliveryError is the failure of a delivery the server refused: exit code
// 3 when it refused the signature.
func deliveryError(status int) error {
	err := fmt.Errorf("the server answered %d %s", status, http.StatusText(status))
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return &codedError{exitAuth, err}
	}
	return err
}

// writeCompact writes JSON b on one line; other bytes as they are.
func writeCompact(w io.Writer, b []byte) error {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		out.Reset()
		out.Write(bytes.TrimSpace(b))
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}
