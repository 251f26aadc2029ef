package rules

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/callback"
)

// The events rules know by name.
const (
	EventCompleted = "workflow.completed"
	EventFailed    = "workflow.failed"
	EventStep      = "llm.step.completed"
)

// The values of Rule.GroupBy.
const (
	GroupWorkflow = "workflow"
	GroupJob      = "job"
	GroupNone     = "none"
)

// The states of a Notice.
const (
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// Details is what matching reads from a failed workflow's payload.
type Details struct {
	Category  string
	Retryable *bool
	Message   string
}

// Occurrence is one callback that a rule counted, as a message shows it.
type Occurrence struct {
	CallbackID   string    `json:"callback_id"`
	JobID        string    `json:"job_id"`
	Workflow     string    `json:"workflow,omitempty"`
	Event        string    `json:"event"`
	StepID       string    `json:"step_id,omitempty"`
	ErrorMessage string    `json:"error_message,omitempty"`
	At           time.Time `json:"at"`
}

// maxOccurrenceText bounds the texts an occurrence carries into messages.
const maxOccurrenceText = 500

func occurrenceOf(c callback.Callback, d Details) Occurrence {
	msg := c.ErrorMessage
	if msg == "" {
		msg = d.Message
	}
	return Occurrence{
		CallbackID: c.ID.String(), JobID: bounded(c.ExternalJobID), Workflow: bounded(c.WorkflowName),
		Event: bounded(c.EventType), StepID: bounded(c.StepID), ErrorMessage: bounded(msg), At: c.CreatedAt.UTC(),
	}
}

func bounded(s string) string { return callback.StorableText(s, maxOccurrenceText) }

// RateBucket counts finished workflows in one slice of a rate window.
type RateBucket struct {
	Start  time.Time `json:"start"`
	Total  int       `json:"total"`
	Failed int       `json:"failed"`
}

// State is what one rule remembers about one group (key "g:…") or, for a
// stuck rule, one job (key "j:…"). The caller keeps it between passes
// (package alert/queue: one row per rule and key, in the transaction that
// enqueues the notices).
type State struct {
	// Grouping: matches waiting for the group's message.
	Pending int         `json:"pending,omitempty"`
	FirstAt time.Time   `json:"first_at,omitzero"` // when the group opened
	Oldest  time.Time   `json:"oldest,omitzero"`   // the oldest pending match
	Latest  *Occurrence `json:"latest,omitempty"`
	// LastSent is when the group's last message was decided.
	LastSent time.Time `json:"last_sent,omitzero"`
	// Count: the times of recent matches (at most at_least).
	Times []time.Time `json:"times,omitempty"`
	// Rate: finished workflows per bucket, and whether the condition holds.
	Buckets []RateBucket `json:"buckets,omitempty"`
	Firing  bool         `json:"firing,omitempty"`
	// Stuck (job keys): the job's latest step and when it becomes stuck.
	Deadline time.Time   `json:"deadline,omitzero"`
	Step     *Occurrence `json:"step,omitempty"`
}

// Empty reports whether the state holds nothing worth keeping. A group's
// LastSent matters only while MinInterval can delay its next message.
func (s *State) Empty(r *Rule, now time.Time) bool {
	return s.Pending == 0 && len(s.Times) == 0 && len(s.Buckets) == 0 && !s.Firing && s.Step == nil &&
		(s.LastSent.IsZero() || !now.Before(s.LastSent.Add(r.MinInterval)))
}

// DueAt is when the state next needs a pass without any new callback (zero:
// never): a group's message, a rate window's next bucket leaving it, a job
// becoming stuck.
func (s *State) DueAt(r *Rule) time.Time {
	var due time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (due.IsZero() || t.Before(due)) {
			due = t
		}
	}
	if s.Pending > 0 {
		t := s.FirstAt.Add(r.Window())
		if next := s.LastSent.Add(r.MinInterval); !s.LastSent.IsZero() && next.After(t) {
			t = next
		}
		earliest(t)
	}
	if len(s.Buckets) > 0 && r.Rate != nil {
		earliest(s.Buckets[0].Start.Add(r.rateBucket() + r.Rate.Within))
	}
	if s.Step != nil {
		earliest(s.Deadline)
	}
	return due
}

// Notice is one alert decided: what every channel of its rule is sent.
type Notice struct {
	// ID is the alert's identity, the same on every retry of every
	// channel (the webhook channel's webhook-id).
	ID       string `json:"id"`
	Rule     string `json:"rule"`
	RuleKind string `json:"rule_kind"`
	// Group is the workflow or job the alert is about ("" when the rule
	// groups nothing).
	Group string `json:"group,omitempty"`
	State string `json:"state"`
	// Title is one line; Text adds the details, one fact per line.
	Title string `json:"title"`
	Text  string `json:"text"`
	// Count is how many callbacks (or stuck jobs) the message stands for,
	// first and latest of them at Since and Latest.At.
	Count  int         `json:"count"`
	Since  time.Time   `json:"since,omitzero"`
	Latest *Occurrence `json:"latest,omitempty"`
	// Link opens the console on what the alert is about; JobLink on the
	// latest job's timeline.
	Link      string    `json:"link"`
	JobLink   string    `json:"job_link,omitempty"`
	DecidedAt time.Time `json:"decided_at"`
}

// Evaluator applies a configuration's rules. It keeps no state between
// calls: every call reads and changes the States its Pass holds.
type Evaluator struct {
	cfg       *Config
	publicURL string
}

// NewEvaluator returns an evaluator of cfg whose messages link to the
// console at publicURL.
func NewEvaluator(cfg *Config, publicURL string) *Evaluator {
	return &Evaluator{cfg: cfg, publicURL: strings.TrimRight(publicURL, "/")}
}

// Config returns the evaluator's configuration.
func (e *Evaluator) Config() *Config { return e.cfg }

// Rule returns the named rule.
func (e *Evaluator) Rule(name string) (*Rule, bool) {
	i := slices.IndexFunc(e.cfg.Rules, func(r Rule) bool { return r.Name == name })
	if i < 0 {
		return nil, false
	}
	return &e.cfg.Rules[i], true
}

// Pass is one evaluation: the states it read and changed, and the notices
// it decided. Load returns a state the pass has not read yet (a zero State
// when none is kept).
type Pass struct {
	Load    func(rule, key string) (*State, error)
	states  map[[2]string]*State
	Notices []Notice
}

// State returns the state of rule and key, loading it once.
func (p *Pass) State(rule, key string) (*State, error) {
	k := [2]string{rule, key}
	if s, ok := p.states[k]; ok {
		return s, nil
	}
	s, err := p.Load(rule, key)
	if err != nil {
		return nil, err
	}
	if p.states == nil {
		p.states = map[[2]string]*State{}
	}
	p.states[k] = s
	return s, nil
}

// Touched calls fn for every state the pass read (and may have changed).
func (p *Pass) Touched(fn func(rule, key string, s *State)) {
	for k, s := range p.states {
		fn(k[0], k[1], s)
	}
}

// Candidate reports whether a rule may match c on its columns alone
// (event, status, workflow): MatchesError then decides with the payload's error
// details when the rule needs them. A stuck rule is a candidate for the
// steps and final callbacks of its workflows.
func (r *Rule) Candidate(c callback.Callback) bool {
	if !anyOf(r.Match.Workflow, c.WorkflowName) {
		return false
	}
	switch {
	case r.Stuck != nil:
		return c.EventType == EventStep || c.EventType == EventCompleted || c.EventType == EventFailed
	case r.Rate != nil:
		if c.EventType != EventCompleted && c.EventType != EventFailed {
			return false
		}
	}
	return anyOf(r.Match.Event, c.EventType) && anyOf(r.Match.Status, string(c.Status))
}

// NeedsDetails reports whether Match reads the payload's error details.
func (r *Rule) NeedsDetails() bool { return r.Match.Error.needsPayload() }

// MatchesError reports whether a candidate callback matches the rule's error
// conditions. For a rate rule the error conditions select the failures,
// not the callbacks counted.
func (r *Rule) MatchesError(d Details, errorMessage string) bool {
	m := r.Match.Error
	if !anyOf(m.Category, d.Category) {
		return false
	}
	if m.Retryable != nil && (d.Retryable == nil || *d.Retryable != *m.Retryable) {
		return false
	}
	if len(m.Contains) > 0 {
		text := strings.ToLower(errorMessage + "\n" + d.Message)
		if !slices.ContainsFunc(m.Contains, func(w string) bool { return strings.Contains(text, strings.ToLower(w)) }) {
			return false
		}
	}
	return true
}

func anyOf(values Strings, v string) bool {
	return len(values) == 0 || slices.Contains(values, v)
}

// groupKey is the state key of the group c belongs to under r.
func (r *Rule) groupKey(workflow, job string) (key, label string) {
	switch r.GroupBy {
	case GroupJob:
		return "g:" + job, job
	case GroupNone:
		return "g:", ""
	}
	return "g:" + workflow, workflow
}

// rateBucket is the width of a rate rule's buckets: a tenth of its window.
func (r *Rule) rateBucket() time.Duration { return max(r.Rate.Within/10, time.Second) }

// Observe counts a matched (or, for rate and stuck rules, candidate)
// callback at now. Each callback must be observed once per rule: the
// caller drops redeliveries of callbacks it observed.
func (e *Evaluator) Observe(p *Pass, r *Rule, c callback.Callback, d Details, now time.Time) error {
	occ := occurrenceOf(c, d)
	switch {
	case r.Stuck != nil:
		s, err := p.State(r.Name, "j:"+c.ExternalJobID)
		if err != nil {
			return err
		}
		if c.EventType == EventStep {
			if s.Step == nil || !occ.At.Before(s.Step.At) {
				s.Step, s.Deadline = &occ, occ.At.Add(r.Stuck.After)
			}
			return nil
		}
		s.Step, s.Deadline = nil, time.Time{} // the job finished
		return nil
	case r.Rate != nil:
		key, label := r.groupKey(c.WorkflowName, c.ExternalJobID)
		s, err := p.State(r.Name, key)
		if err != nil {
			return err
		}
		failed := c.EventType == EventFailed && r.MatchesError(d, c.ErrorMessage)
		start := occ.At.Truncate(r.rateBucket())
		i := slices.IndexFunc(s.Buckets, func(b RateBucket) bool { return b.Start.Equal(start) })
		if i < 0 {
			s.Buckets = append(s.Buckets, RateBucket{Start: start})
			slices.SortFunc(s.Buckets, func(a, b RateBucket) int { return a.Start.Compare(b.Start) })
			i = slices.IndexFunc(s.Buckets, func(b RateBucket) bool { return b.Start.Equal(start) })
		}
		s.Buckets[i].Total++
		if failed {
			s.Buckets[i].Failed++
			s.Latest = &occ
		}
		e.rate(p, r, s, label, now)
		return nil
	}
	key, label := r.groupKey(c.WorkflowName, c.ExternalJobID)
	s, err := p.State(r.Name, key)
	if err != nil {
		return err
	}
	if r.Count != nil && s.Pending == 0 {
		s.Times = append(s.Times, occ.At)
		s.Times = slices.DeleteFunc(s.Times, func(t time.Time) bool { return !t.After(occ.At.Add(-r.Count.Within)) })
		slices.SortFunc(s.Times, time.Time.Compare)
		if len(s.Times) > r.Count.AtLeast {
			s.Times = s.Times[len(s.Times)-r.Count.AtLeast:]
		}
		if len(s.Times) < r.Count.AtLeast {
			return nil
		}
		s.Pending, s.Oldest, s.Times = len(s.Times)-1, s.Times[0], nil
	}
	e.add(p, r, s, label, occ, now)
	return nil
}

// add puts an occurrence into its group; a group whose window is zero
// and that MinInterval does not hold back is sent at once.
func (e *Evaluator) add(p *Pass, r *Rule, s *State, label string, occ Occurrence, now time.Time) {
	if s.Pending == 0 || s.FirstAt.IsZero() {
		s.FirstAt = now
		if s.Pending == 0 || s.Oldest.IsZero() {
			s.Oldest = occ.At
		}
	}
	s.Pending++
	if occ.At.Before(s.Oldest) {
		s.Oldest = occ.At
	}
	if s.Latest == nil || !occ.At.Before(s.Latest.At) {
		s.Latest = &occ
	}
	if due := s.DueAt(r); !due.After(now) {
		e.send(p, r, s, label, now)
	}
}

// Due runs what became due by now in the state of rule and key: it sends a
// group's message, moves a rate window (resolving it when the condition
// cleared), or reports a job stuck. finished tells whether a job sent its
// final callback after all (a stuck rule then forgets it): a step seen
// after the final, or a final whose evaluation lags, must not raise a
// false alert.
func (e *Evaluator) Due(p *Pass, r *Rule, key string, now time.Time, finished func(job string) (bool, error)) error {
	s, err := p.State(r.Name, key)
	if err != nil {
		return err
	}
	if job, ok := strings.CutPrefix(key, "j:"); ok {
		if s.Step == nil || now.Before(s.Deadline) {
			return nil
		}
		occ := *s.Step
		s.Step, s.Deadline = nil, time.Time{}
		done, err := finished(job)
		if err != nil || done {
			return err
		}
		gkey, label := r.groupKey(occ.Workflow, occ.JobID)
		g, err := p.State(r.Name, gkey)
		if err != nil {
			return err
		}
		e.add(p, r, g, label, occ, now)
		return nil
	}
	label := strings.TrimPrefix(key, "g:")
	if r.Rate != nil {
		e.rate(p, r, s, label, now)
		return nil
	}
	if s.Pending > 0 && !s.DueAt(r).After(now) {
		e.send(p, r, s, label, now)
	}
	return nil
}

// rate drops the buckets that left the window and sends a message when
// the condition starts or stops holding.
func (e *Evaluator) rate(p *Pass, r *Rule, s *State, label string, now time.Time) {
	w := r.rateBucket()
	s.Buckets = slices.DeleteFunc(s.Buckets, func(b RateBucket) bool { return !b.Start.Add(w + r.Rate.Within).After(now) })
	total, failed := 0, 0
	for _, b := range s.Buckets {
		total += b.Total
		failed += b.Failed
	}
	pct := 0.0
	if total > 0 {
		pct = 100 * float64(failed) / float64(total)
	}
	holds := total >= r.Rate.MinCallbacks && pct > r.Rate.AbovePercent
	if holds == s.Firing {
		return
	}
	s.Firing = holds
	n := e.notice(r, label, now)
	n.Count, n.Latest = failed, s.Latest
	if len(s.Buckets) > 0 {
		n.Since = s.Buckets[0].Start
	}
	subject := "workflows"
	if label != "" {
		subject = label
	}
	if holds {
		n.Title = fmt.Sprintf("Failure rate of %s at %.0f %% (%d of %d) over %s", subject, pct, failed, total, r.Rate.Within)
		n.Text = fmt.Sprintf("Above %g %% with at least %d finished workflows.", r.Rate.AbovePercent, r.Rate.MinCallbacks)
		if s.Latest != nil {
			n.Text += "\nLatest failure: " + describe(*s.Latest)
			n.JobLink = e.jobLink(s.Latest.JobID)
		}
	} else {
		n.State = StateResolved
		n.Title = fmt.Sprintf("Resolved: failure rate of %s at %.0f %% (%d of %d) over %s", subject, pct, failed, total, r.Rate.Within)
		n.Text = fmt.Sprintf("At or below %g %%, or fewer than %d finished workflows.", r.Rate.AbovePercent, r.Rate.MinCallbacks)
		s.Latest = nil
	}
	s.LastSent = now
	n.Link = e.historyLink(r, label, n.Since, EventFailed)
	p.Notices = append(p.Notices, n)
}

// send decides the message of a group and empties the group.
func (e *Evaluator) send(p *Pass, r *Rule, s *State, label string, now time.Time) {
	n := e.notice(r, label, now)
	n.Count, n.Since, n.Latest = s.Pending, s.Oldest, s.Latest
	what := "callbacks"
	switch {
	case r.Stuck != nil:
		what = "stuck jobs"
	case s.Latest != nil && s.Latest.Event == EventFailed:
		what = "failures"
	case s.Latest != nil:
		what = s.Latest.Event + " callbacks"
	}
	if s.Pending == 1 {
		what = strings.TrimSuffix(strings.Replace(what, "failures", "failure", 1), "s")
	}
	of := ""
	if label != "" {
		of = " of " + label
	}
	span := ""
	if s.Latest != nil && s.Pending > 1 {
		span = " in " + s.Latest.At.Sub(s.Oldest).Round(time.Second).String()
	}
	n.Title = fmt.Sprintf("%d %s%s%s", s.Pending, what, of, span)
	if s.Latest != nil {
		n.Title += ", latest: " + describe(*s.Latest)
		n.JobLink = e.jobLink(s.Latest.JobID)
	}
	switch {
	case r.Stuck != nil:
		n.Text = fmt.Sprintf("No workflow.completed or workflow.failed within %s of the job's latest llm.step.completed.", r.Stuck.After)
	case r.Count != nil:
		n.Text = fmt.Sprintf("At least %d matches of rule %s within %s.", r.Count.AtLeast, r.Name, r.Count.Within)
	default:
		n.Text = "Matches of rule " + r.Name + "."
	}
	event := ""
	if s.Latest != nil && r.Stuck == nil {
		event = s.Latest.Event
	}
	n.Link = e.historyLink(r, label, s.Oldest, event)
	if r.GroupBy == GroupJob && label != "" {
		n.Link = e.jobLink(label)
	}
	p.Notices = append(p.Notices, n)
	s.Pending, s.FirstAt, s.Oldest, s.Latest, s.LastSent = 0, time.Time{}, time.Time{}, nil, now
}

func (e *Evaluator) notice(r *Rule, label string, now time.Time) Notice {
	return Notice{
		ID: "alert_" + uuid.Must(uuid.NewV7()).String(), Rule: r.Name, RuleKind: r.Kind(), Group: label,
		State: StateFiring, DecidedAt: now.UTC(),
	}
}

// describe is one occurrence in a line.
func describe(o Occurrence) string {
	s := o.Event + " of job " + o.JobID
	if o.StepID != "" {
		s += " (step " + o.StepID + ")"
	}
	s += " at " + o.At.UTC().Format(time.RFC3339)
	if o.ErrorMessage != "" {
		s += ": " + o.ErrorMessage
	}
	return s
}

// historyLink opens the console's history (/callbacks) filtered on what an
// alert is about, from its first occurrence on. The console also moves the
// history's older address (/?…) there, so messages sent before keep working.
func (e *Evaluator) historyLink(r *Rule, label string, since time.Time, event string) string {
	q := url.Values{}
	if label != "" && (r.GroupBy == "" || r.GroupBy == GroupWorkflow) {
		q.Set("workflow", label)
	}
	if event != "" {
		q.Set("event", event)
	}
	if !since.IsZero() {
		q.Set("after", since.UTC().Format(time.RFC3339))
	}
	if len(q) == 0 {
		return e.publicURL + "/callbacks"
	}
	return e.publicURL + "/callbacks?" + q.Encode()
}

// jobLink opens the console on a job's timeline.
func (e *Evaluator) jobLink(job string) string {
	if job == "" {
		return ""
	}
	return e.publicURL + "/jobs/" + url.PathEscape(job)
}

// The statuses of a Delivery.
const (
	DeliveryPending   = "pending"   // waiting for its first attempt
	DeliveryRetrying  = "retrying"  // an attempt failed; the next is scheduled
	DeliverySending   = "sending"   // an attempt is running
	DeliverySent      = "sent"      // the channel accepted it
	DeliveryFailed    = "failed"    // every attempt failed: given up
	DeliveryCancelled = "cancelled" // its channel is no longer configured
)

// Delivery is one notice on its way to one channel, with every failed
// attempt's error.
type Delivery struct {
	ID            int64
	Notice        Notice
	Channel       string
	Status        string
	Attempts      int
	MaxAttempts   int
	Errors        []AttemptError
	CreatedAt     time.Time
	NextAttemptAt time.Time // zero once finished
	FinishedAt    time.Time // zero until sent or failed
}

// AttemptError is the error of one failed attempt.
type AttemptError struct {
	Attempt int
	At      time.Time
	Error   string
}
