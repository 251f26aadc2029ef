// Package rules is the vocabulary of alerting: the alerts configuration
// file (channels and rules), its validation, which callbacks a rule
// matches, and the evaluation of rules over the change feed as a pure
// state machine (Evaluator), whose state the caller keeps. It opens
// nothing and sends nothing: package alert/queue runs the evaluation
// durably and package alert/channel sends what it decides.
package rules

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/webhook"
)

// Defaults of a rule.
const (
	DefaultGroupWindow = 30 * time.Second
	// MaxRules and MaxChannels bound a configuration: every rule is
	// evaluated for every callback.
	MaxRules    = 200
	MaxChannels = 50
	maxNameLen  = 64
)

// Config is an alerts configuration file (--alerts-config).
type Config struct {
	Channels []Channel `yaml:"channels"`
	Rules    []Rule    `yaml:"rules"`
}

// Channel is one destination of alerts: exactly one of Slack, Webhook and
// Email is set.
type Channel struct {
	Name    string          `yaml:"name"`
	Slack   *SlackChannel   `yaml:"slack,omitempty"`
	Webhook *WebhookChannel `yaml:"webhook,omitempty"`
	Email   *EmailChannel   `yaml:"email,omitempty"`
}

// Kind names the channel's kind: "slack", "webhook" or "email".
func (c Channel) Kind() string {
	switch {
	case c.Slack != nil:
		return "slack"
	case c.Webhook != nil:
		return "webhook"
	case c.Email != nil:
		return "email"
	}
	return ""
}

// SlackChannel posts to a Slack-compatible incoming webhook (Slack,
// Mattermost, Rocket.Chat and others accept the same JSON).
type SlackChannel struct {
	URL string `yaml:"url"`
}

// WebhookChannel posts a JSON document signed with Standard Webhooks.
// Every secret signs (one signature each), so that a receiver rotating its
// secret accepts the deliveries during the change: list the new secret
// beside the old one, then remove the old one.
type WebhookChannel struct {
	URL     string   `yaml:"url"`
	Secrets []string `yaml:"secrets"`
}

// The TLS modes of an e-mail channel.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, required (the default)
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS, port 465)
	TLSNone     = "none"     // no TLS: only for a relay on the same host or a test server
)

// The SMTP AUTH mechanisms of an e-mail channel.
const (
	AuthAuto  = "auto"  // the strongest the server offers (the default)
	AuthPlain = "plain" // PLAIN (RFC 4616)
	AuthLogin = "login" // LOGIN, for servers that offer only that
)

// EmailChannel sends a plain-text and HTML message over SMTP.
type EmailChannel struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// TLS is starttls (default), tls or none.
	TLS string `yaml:"tls"`
	// CAFile names PEM certificates trusted, besides the system's roots,
	// to sign the server's certificate: a relay with a private CA is
	// verified, never skipped.
	CAFile string `yaml:"ca_file"`
	// RootCAs is the system's roots and CAFile's certificates, read at
	// start; nil when CAFile is empty (the system's roots).
	RootCAs *x509.CertPool `yaml:"-"`
	// Auth is the SMTP AUTH mechanism used when Username is set: auto
	// (default), plain or login.
	Auth     string `yaml:"auth"`
	Username string `yaml:"username"`
	// Password, or PasswordFile (read at start), authenticates with
	// SMTP AUTH when Username is set.
	Password     string   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
}

// Rule says which callbacks raise an alert, when, and where it goes. With
// no condition, every matching callback raises one (grouped); Count, Rate
// and Stuck are conditions over time, at most one per rule.
type Rule struct {
	Name  string          `yaml:"name"`
	Match Match           `yaml:"match"`
	Count *CountCondition `yaml:"count,omitempty"`
	Rate  *RateCondition  `yaml:"rate,omitempty"`
	Stuck *StuckCondition `yaml:"stuck,omitempty"`
	// GroupBy is workflow (the default), job or none: alerts of one group
	// are sent together.
	GroupBy string `yaml:"group_by"`
	// GroupWindow is how long a group collects matches after its first
	// before one message goes out (default 30s; 0 sends at once).
	GroupWindow *time.Duration `yaml:"group_window,omitempty"`
	// MinInterval is the least time between two messages of one group.
	MinInterval time.Duration `yaml:"min_interval"`
	Channels    []string      `yaml:"channels"`
}

// Match selects callbacks; every field given must hold, and a list holds
// when any of its values does. An empty Match selects every callback.
type Match struct {
	Event    Strings    `yaml:"event"`
	Status   Strings    `yaml:"status"`
	Workflow Strings    `yaml:"workflow"`
	Error    ErrorMatch `yaml:"error"`
}

// ErrorMatch selects by the error a workflow.failed payload reports.
type ErrorMatch struct {
	// Category matches error.category.
	Category Strings `yaml:"category"`
	// Retryable matches error.retryable; a callback without it never
	// matches a rule that names it.
	Retryable *bool `yaml:"retryable,omitempty"`
	// Contains matches when the error message (error_message or
	// error.message) contains any of these words, case-insensitively.
	Contains Strings `yaml:"contains"`
}

// needsPayload reports whether matching reads the payload's error object.
func (e ErrorMatch) needsPayload() bool {
	return len(e.Category) > 0 || e.Retryable != nil || len(e.Contains) > 0
}

// CountCondition fires when at least AtLeast matches arrive within Within.
type CountCondition struct {
	AtLeast int           `yaml:"at_least"`
	Within  time.Duration `yaml:"within"`
}

// RateCondition fires while the share of failures (workflow.failed) among
// the finished workflows the rule matches is above AbovePercent over
// Within, counting only when at least MinCallbacks finished; it sends a
// resolved message when that stops being true.
type RateCondition struct {
	AbovePercent float64       `yaml:"above_percent"`
	Within       time.Duration `yaml:"within"`
	MinCallbacks int           `yaml:"min_callbacks"`
}

// StuckCondition fires for a job that sent llm.step.completed but no
// workflow.completed or workflow.failed within After of its latest step.
type StuckCondition struct {
	After time.Duration `yaml:"after"`
}

// Strings is a YAML scalar or list of strings.
type Strings []string

// UnmarshalYAML accepts "a" as well as [a, b].
func (s *Strings) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = Strings{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

// Kind names the rule's condition: "match", "count", "rate" or "stuck".
func (r Rule) Kind() string {
	switch {
	case r.Count != nil:
		return "count"
	case r.Rate != nil:
		return "rate"
	case r.Stuck != nil:
		return "stuck"
	}
	return "match"
}

// Window is the rule's grouping window.
func (r Rule) Window() time.Duration {
	if r.GroupWindow == nil {
		return DefaultGroupWindow
	}
	return *r.GroupWindow
}

// Load reads and validates an alerts configuration file, reporting every
// problem at once.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("alerts config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("alerts config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes and validates a configuration. Unknown keys are refused:
// a misspelt condition would otherwise silently match everything.
func Parse(data []byte) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		if te, ok := errors.AsType[*yaml.TypeError](err); ok {
			var problems []error
			for _, e := range te.Errors {
				problems = append(problems, errors.New(strings.TrimPrefix(e, "yaml: ")))
			}
			return nil, errors.Join(problems...)
		}
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// validate checks every channel and rule, reporting every problem.
func (c *Config) validate() error {
	var problems []error
	problem := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	if len(c.Rules) == 0 {
		problem("rules: none defined")
	}
	if len(c.Channels) > MaxChannels {
		problem("channels: %d defined, at most %d", len(c.Channels), MaxChannels)
	}
	if len(c.Rules) > MaxRules {
		problem("rules: %d defined, at most %d", len(c.Rules), MaxRules)
	}
	channels := map[string]bool{}
	for i, ch := range c.Channels {
		where := fmt.Sprintf("channels[%d] %q", i, ch.Name)
		if err := checkName(ch.Name); err != nil {
			problem("%s: name %w", where, err)
		} else if channels[ch.Name] {
			problem("%s: name used twice", where)
		}
		channels[ch.Name] = true
		n := 0
		for _, set := range []bool{ch.Slack != nil, ch.Webhook != nil, ch.Email != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			problem("%s: give exactly one of slack, webhook, email", where)
			continue
		}
		switch {
		case ch.Slack != nil:
			if err := checkURL(ch.Slack.URL); err != nil {
				problem("%s: slack.url %w", where, err)
			}
		case ch.Webhook != nil:
			if err := checkURL(ch.Webhook.URL); err != nil {
				problem("%s: webhook.url %w", where, err)
			}
			if len(ch.Webhook.Secrets) == 0 {
				problem("%s: webhook.secrets: give at least one whsec_ secret", where)
			}
			for j, s := range ch.Webhook.Secrets {
				if err := checkWebhookSecret(s); err != nil {
					problem("%s: webhook.secrets[%d]: %w", where, j, err)
				}
			}
		case ch.Email != nil:
			for _, err := range c.Channels[i].Email.check() {
				problem("%s: email.%w", where, err)
			}
		}
	}
	rules := map[string]bool{}
	for i, r := range c.Rules {
		where := fmt.Sprintf("rules[%d] %q", i, r.Name)
		if err := checkName(r.Name); err != nil {
			problem("%s: name %w", where, err)
		} else if rules[r.Name] {
			problem("%s: name used twice", where)
		}
		rules[r.Name] = true
		for _, err := range r.check() {
			problem("%s: %w", where, err)
		}
		if len(r.Channels) == 0 {
			problem("%s: channels: name at least one", where)
		}
		for _, name := range r.Channels {
			if !channels[name] {
				problem("%s: channels: no channel is named %q", where, name)
			}
		}
	}
	return errors.Join(problems...)
}

// check returns the problems of a rule's match and condition.
func (r Rule) check() []error {
	var problems []error
	problem := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	n := 0
	for _, set := range []bool{r.Count != nil, r.Rate != nil, r.Stuck != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		problem("give at most one of count, rate, stuck")
	}
	for _, s := range r.Match.Status {
		if !callback.Status(s).Valid() {
			problem("match.status %q: want received, processed or error", s)
		}
	}
	for _, field := range []struct {
		name   string
		values Strings
	}{{"event", r.Match.Event}, {"workflow", r.Match.Workflow}, {"error.category", r.Match.Error.Category}, {"error.contains", r.Match.Error.Contains}} {
		for _, v := range field.values {
			if strings.TrimSpace(v) == "" || len(v) > 256 {
				problem("match.%s: values must be non-empty and at most 256 bytes", field.name)
			}
		}
	}
	switch {
	case r.Count != nil:
		if r.Count.AtLeast < 1 || r.Count.AtLeast > 10000 {
			problem("count.at_least %d: want 1 to 10000", r.Count.AtLeast)
		}
		if r.Count.Within <= 0 {
			problem("count.within %s: must be positive", r.Count.Within)
		}
	case r.Rate != nil:
		if r.Rate.AbovePercent < 0 || r.Rate.AbovePercent >= 100 {
			problem("rate.above_percent %g: want 0 to less than 100", r.Rate.AbovePercent)
		}
		if r.Rate.Within < time.Second {
			problem("rate.within %s: must be at least 1s", r.Rate.Within)
		}
		if r.Rate.MinCallbacks < 1 {
			problem("rate.min_callbacks %d: must be at least 1", r.Rate.MinCallbacks)
		}
		for _, e := range r.Match.Event {
			if e != EventCompleted && e != EventFailed {
				problem("match.event %q: a rate rule counts finished workflows (workflow.completed, workflow.failed)", e)
			}
		}
	case r.Stuck != nil:
		if r.Stuck.After <= 0 {
			problem("stuck.after %s: must be positive", r.Stuck.After)
		}
		if len(r.Match.Event) > 0 || len(r.Match.Status) > 0 || r.Match.Error.needsPayload() {
			problem("match: a stuck rule selects jobs by workflow only (it watches llm.step.completed and the final callbacks)")
		}
	}
	switch r.GroupBy {
	case "", GroupWorkflow, GroupJob, GroupNone:
	default:
		problem("group_by %q: want workflow, job or none", r.GroupBy)
	}
	if r.GroupWindow != nil && (*r.GroupWindow < 0 || *r.GroupWindow > 24*time.Hour) {
		problem("group_window %s: want 0 to 24h", *r.GroupWindow)
	}
	if r.MinInterval < 0 {
		problem("min_interval %s: must not be negative", r.MinInterval)
	}
	return problems
}

// readCAFile returns the system's roots and the PEM certificates of path.
func readCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil { // no system roots on this host: the file's alone
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// check returns the problems of an e-mail channel (and reads its password
// file).
func (e *EmailChannel) check() []error {
	var problems []error
	problem := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	if e.Host == "" {
		problem("host: required")
	}
	switch e.TLS {
	case "":
		e.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		problem("tls %q: want starttls, tls or none", e.TLS)
	}
	if e.Port == 0 {
		e.Port = 587
		if e.TLS == TLSImplicit {
			e.Port = 465
		}
	}
	if e.Port < 1 || e.Port > 65535 {
		problem("port %d: want 1 to 65535", e.Port)
	}
	if e.CAFile != "" {
		if e.TLS == TLSNone {
			problem("ca_file: needs tls: starttls or tls, not none")
		}
		pool, err := readCAFile(e.CAFile)
		if err != nil {
			problem("ca_file: %w", err)
		}
		e.RootCAs = pool
	}
	switch e.Auth {
	case "":
		e.Auth = AuthAuto
	case AuthAuto, AuthPlain, AuthLogin:
	default:
		problem("auth %q: want auto, plain or login", e.Auth)
	}
	if e.Password != "" && e.PasswordFile != "" {
		problem("password, password_file: give one")
	}
	if e.PasswordFile != "" {
		b, err := os.ReadFile(e.PasswordFile)
		if err != nil {
			problem("password_file: %w", err)
		}
		e.Password = strings.TrimSpace(string(b))
	}
	if e.Password != "" && e.Username == "" {
		problem("username: required with a password")
	}
	if e.Username != "" && e.TLS == TLSNone {
		// The mail library never sends credentials over an unencrypted
		// connection, so every attempt would fail; say so at start.
		problem("username: SMTP AUTH needs tls: starttls or tls, not none")
	}
	if _, err := mail.ParseAddress(e.From); err != nil {
		problem("from %q: %w", e.From, err)
	}
	if len(e.To) == 0 {
		problem("to: give at least one address")
	}
	for _, to := range e.To {
		if _, err := mail.ParseAddress(to); err != nil {
			problem("to %q: %w", to, err)
		}
	}
	return problems
}

// checkName checks a channel or rule name: it appears in URLs, logs and
// job keys.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("must have 1 to %d characters", maxNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)) {
			return errors.New("may hold only letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}

// checkURL checks a destination URL.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL", raw)
	}
	return nil
}

// checkWebhookSecret checks a Standard Webhooks secret without revealing it.
func checkWebhookSecret(s string) error {
	if !strings.HasPrefix(s, "whsec_") {
		return errors.New("want a whsec_<base64> secret")
	}
	if _, err := webhook.SignStandard(s, "msg_probe", time.Unix(0, 0), nil); err != nil {
		return errors.New("want a whsec_<base64> secret: the part after whsec_ is not base64")
	}
	return nil
}

// ChannelByName returns the named channel.
func (c *Config) ChannelByName(name string) (Channel, bool) {
	i := slices.IndexFunc(c.Channels, func(ch Channel) bool { return ch.Name == name })
	if i < 0 {
		return Channel{}, false
	}
	return c.Channels[i], true
}

// GroupByOrDefault is GroupBy with its default filled in.
func (r Rule) GroupByOrDefault() string {
	if r.GroupBy == "" {
		return GroupWorkflow
	}
	return r.GroupBy
}

// Summary says in one line what the rule matches and when it fires.
func (r Rule) Summary() string {
	var parts []string
	add := func(name string, values Strings) {
		if len(values) > 0 {
			parts = append(parts, name+" "+strings.Join(values, " or "))
		}
	}
	add("event", r.Match.Event)
	add("status", r.Match.Status)
	add("workflow", r.Match.Workflow)
	add("error.category", r.Match.Error.Category)
	if r.Match.Error.Retryable != nil {
		parts = append(parts, fmt.Sprintf("error.retryable %t", *r.Match.Error.Retryable))
	}
	add("error message contains", r.Match.Error.Contains)
	what := "every callback"
	if len(parts) > 0 {
		what = strings.Join(parts, ", ")
	}
	switch {
	case r.Count != nil:
		return fmt.Sprintf("at least %d of %s within %s", r.Count.AtLeast, what, r.Count.Within)
	case r.Rate != nil:
		return fmt.Sprintf("failure rate above %g %% over %s (at least %d finished workflows) of %s", r.Rate.AbovePercent, r.Rate.Within, r.Rate.MinCallbacks, what)
	case r.Stuck != nil:
		return fmt.Sprintf("a job of %s with llm.step.completed and no final callback within %s", what, r.Stuck.After)
	}
	return what
}
