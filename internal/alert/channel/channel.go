// Package channel sends alert notices to their destinations: Slack-compatible
// incoming webhooks (Slack, Mattermost, Rocket.Chat), generic webhooks
// signed with Standard Webhooks, and e-mail over SMTP. Each Sender makes one
// attempt; package alert/queue retries.
package channel

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wneessen/go-mail"

	"github.com/callbackd/callbackd/internal/alert/rules"
	"github.com/callbackd/callbackd/internal/webhook"
)

// UserAgent names callbackd to receivers.
const UserAgent = "callbackd-alerts/1"

// Options are what every sender shares.
type Options struct {
	// HTTPClient sends the HTTP channels; nil means a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// Now is the clock of webhook timestamps; nil means time.Now.
	Now func() time.Time
}

// Sender sends a notice to one channel, once.
type Sender interface {
	Send(ctx context.Context, n rules.Notice) error
}

// New returns the sender of a validated channel.
func New(ch rules.Channel, opts Options) (Sender, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch {
	case ch.Slack != nil:
		return &slack{url: ch.Slack.URL, client: opts.HTTPClient}, nil
	case ch.Webhook != nil:
		return &signedWebhook{url: ch.Webhook.URL, secrets: ch.Webhook.Secrets, client: opts.HTTPClient, now: opts.Now}, nil
	case ch.Email != nil:
		return newEmail(*ch.Email, opts)
	}
	return nil, fmt.Errorf("channel %q: no kind", ch.Name)
}

// post sends body and fails on any answer but 2xx, naming the status and
// the start of the answer (receivers explain their refusals there).
func post(ctx context.Context, client *http.Client, url string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		text := strings.ToValidUTF8(strings.TrimSpace(string(answer)), "\uFFFD")
		if text != "" {
			return fmt.Errorf("%s answered %s: %s", redactURL(url), resp.Status, text)
		}
		return fmt.Errorf("%s answered %s", redactURL(url), resp.Status)
	}
	return nil
}

// redactURL keeps a URL's scheme and host: the path of an incoming webhook
// is its secret.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "the channel"
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// slack posts Slack's message layout: a header, the text, the links as
// buttons, and a context line. text is the fallback that notifications and
// Slack-compatible receivers without blocks show.
type slack struct {
	url    string
	client *http.Client
}

func (s *slack) Send(ctx context.Context, n rules.Notice) error {
	body, err := json.Marshal(SlackMessage(n))
	if err != nil {
		return err
	}
	return post(ctx, s.client, s.url, body, http.Header{})
}

// SlackMessage is the incoming-webhook payload of a notice.
func SlackMessage(n rules.Notice) map[string]any {
	icon := ":rotating_light:"
	if n.State == rules.StateResolved {
		icon = ":white_check_mark:"
	}
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(n.Rule+": "+state(n), 150)}},
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": truncate(escapeMrkdwn(n.Title)+"\n"+escapeMrkdwn(n.Text), 3000)}},
	}
	var buttons []any
	if n.Link != "" {
		buttons = append(buttons, map[string]any{"type": "button", "text": map[string]any{"type": "plain_text", "text": "Open in callbackd"}, "url": n.Link})
	}
	if n.JobLink != "" {
		buttons = append(buttons, map[string]any{"type": "button", "text": map[string]any{"type": "plain_text", "text": "Latest job"}, "url": n.JobLink})
	}
	if len(buttons) > 0 {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": buttons})
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []any{
		map[string]any{"type": "mrkdwn", "text": fmt.Sprintf("rule *%s* · %s · alert %s", escapeMrkdwn(n.Rule), n.DecidedAt.UTC().Format(time.RFC3339), n.ID)},
	}})
	return map[string]any{"text": truncate(icon+" "+n.Title, 3000), "blocks": blocks}
}

func state(n rules.Notice) string {
	if n.State == rules.StateResolved {
		return "resolved"
	}
	return "alert"
}

// escapeMrkdwn escapes the three characters Slack's mrkdwn reads as markup:
// payload text is data.
func escapeMrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n-1] + "…"
}

// signedWebhook posts the notice as JSON signed with Standard Webhooks:
// webhook-id is the notice's id, the same on every retry so that the
// receiver can drop a duplicate; webhook-timestamp is the attempt's time;
// webhook-signature has one v1 signature per secret (rotation).
type signedWebhook struct {
	url     string
	secrets []string
	client  *http.Client
	now     func() time.Time
}

// WebhookEvent is the body of a webhook delivery.
type WebhookEvent struct {
	// Type is "alert.firing" or "alert.resolved".
	Type      string       `json:"type"`
	Timestamp time.Time    `json:"timestamp"`
	Data      rules.Notice `json:"data"`
}

func (w *signedWebhook) Send(ctx context.Context, n rules.Notice) error {
	body, err := json.Marshal(WebhookEvent{Type: "alert." + n.State, Timestamp: n.DecidedAt, Data: n})
	if err != nil {
		return err
	}
	ts := w.now()
	sigs := make([]string, 0, len(w.secrets))
	for _, secret := range w.secrets {
		sig, err := webhook.SignStandard(secret, n.ID, ts, body)
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		sigs = append(sigs, sig)
	}
	h := http.Header{}
	h.Set("webhook-id", n.ID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", strings.Join(sigs, " "))
	return post(ctx, w.client, w.url, body, h)
}

// email sends a plain-text message with an HTML alternative.
type email struct {
	cfg  rules.EmailChannel
	opts []mail.Option
}

func newEmail(cfg rules.EmailChannel, o Options) (*email, error) {
	opts := []mail.Option{mail.WithPort(cfg.Port), mail.WithTimeout(30 * time.Second)}
	switch cfg.TLS {
	case rules.TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case rules.TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		// Required, not opportunistic: a server that offers no STARTTLS
		// (or a man in the middle that strips it) fails the attempt.
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	// The certificate is always verified, against the system's roots and
	// the channel's ca_file: there is no way to skip it.
	opts = append(opts, mail.WithTLSConfig(&tls.Config{ServerName: cfg.Host, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}))
	if cfg.Username != "" {
		auth := mail.SMTPAuthAutoDiscover
		switch cfg.Auth {
		case rules.AuthPlain:
			auth = mail.SMTPAuthPlain
		case rules.AuthLogin:
			auth = mail.SMTPAuthLogin
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	// Build a client once to check the options; each Send builds its own,
	// since a client holds one connection.
	if _, err := mail.NewClient(cfg.Host, opts...); err != nil {
		return nil, fmt.Errorf("email channel: %w", err)
	}
	return &email{cfg: cfg, opts: opts}, nil
}

func (e *email) Send(ctx context.Context, n rules.Notice) error {
	m := mail.NewMsg()
	if err := m.From(e.cfg.From); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if err := m.To(e.cfg.To...); err != nil {
		return fmt.Errorf("to: %w", err)
	}
	prefix := "[callbackd] "
	if n.State == rules.StateResolved {
		prefix = "[callbackd resolved] "
	}
	m.Subject(truncate(prefix+n.Title, 250))
	// The notice id makes the Message-ID: a retry after a lost answer is
	// recognisably the same message.
	m.SetMessageIDWithValue(n.ID + "@callbackd")
	m.SetDate()
	m.SetBodyString(mail.TypeTextPlain, PlainText(n))
	m.AddAlternativeString(mail.TypeTextHTML, HTML(n))
	c, err := mail.NewClient(e.cfg.Host, e.opts...)
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", e.cfg.Host, e.cfg.Port, err)
	}
	return nil
}

// PlainText is the text part of a notice's e-mail.
func PlainText(n rules.Notice) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n\n", n.Title, n.Text)
	if n.Link != "" {
		fmt.Fprintf(&b, "Open in callbackd: %s\n", n.Link)
	}
	if n.JobLink != "" {
		fmt.Fprintf(&b, "Latest job: %s\n", n.JobLink)
	}
	fmt.Fprintf(&b, "\nRule %s, %s, alert %s\n", n.Rule, n.DecidedAt.UTC().Format(time.RFC3339), n.ID)
	return b.String()
}

// HTML is the HTML part of a notice's e-mail; every text is escaped.
func HTML(n rules.Notice) string {
	var b strings.Builder
	e := html.EscapeString
	colour := "#b91c1c"
	if n.State == rules.StateResolved {
		colour = "#15803d"
	}
	fmt.Fprintf(&b, `<!doctype html><html><body style="font-family:sans-serif">`)
	fmt.Fprintf(&b, `<h2 style="color:%s">%s</h2>`, colour, e(n.Title))
	for _, line := range strings.Split(n.Text, "\n") {
		fmt.Fprintf(&b, "<p>%s</p>", e(line))
	}
	if n.Link != "" {
		fmt.Fprintf(&b, `<p><a href="%s">Open in callbackd</a></p>`, e(n.Link))
	}
	if n.JobLink != "" {
		fmt.Fprintf(&b, `<p><a href="%s">Latest job</a></p>`, e(n.JobLink))
	}
	fmt.Fprintf(&b, `<p style="color:#6b7280;font-size:small">Rule %s, %s, alert %s</p></body></html>`, e(n.Rule), n.DecidedAt.UTC().Format(time.RFC3339), e(n.ID))
	return b.String()
}
