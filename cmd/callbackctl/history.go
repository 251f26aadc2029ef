package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

// FilterFlags are the filters of list, stats and view-all.
type FilterFlags struct {
	Status   string    `help:"Only callbacks in this status: received, processed or error." enum:"received,processed,error," default:""`
	Event    string    `help:"Only callbacks of this event type."`
	Workflow string    `help:"Only callbacks of this workflow."`
	Job      string    `help:"Only callbacks of this job id."`
	After    time.Time `help:"Only callbacks first received at or after this time (RFC 3339)."`
	Before   time.Time `help:"Only callbacks first received before this time (RFC 3339)."`
	Q        string    `name:"q" help:"Only callbacks matching this search: words, \"quoted phrases\", prefix*; a word also matches job ids that begin with it."`
}

// times returns After and Before as timestamps, nil when not set.
func (f *FilterFlags) times() (after, before *timestamppb.Timestamp) {
	if !f.After.IsZero() {
		after = timestamppb.New(f.After)
	}
	if !f.Before.IsZero() {
		before = timestamppb.New(f.Before)
	}
	return after, before
}

// StatsCmd prints statistics.
type StatsCmd struct {
	FilterFlags
	Bucket string `help:"Bucket width: minute, hour or day (UTC)." enum:"minute,hour,day" default:"hour"`
}

// Run prints the buckets, the workflows and the total of a range (by
// default the last 24 hours).
func (c *StatsCmd) Run(ctx context.Context, g *Globals) error {
	client, err := g.client()
	if err != nil {
		return err
	}
	defer client.Close()
	after, before := c.times()
	res, err := client.Stats(ctx, &callbacksv1.GetCallbackStatsRequest{
		CreateTimeAfter: after, CreateTimeBefore: before,
		Bucket:       callbacksv1.StatsBucket(callbacksv1.StatsBucket_value["STATS_BUCKET_"+strings.ToUpper(c.Bucket)]),
		Status:       statusValue(c.Status),
		EventType:    c.Event,
		WorkflowName: c.Workflow, ExternalJobId: c.Job, Query: c.Q,
	})
	if err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	if g.Output == "json" {
		return writeJSON(g.stdout, res)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	header := "COUNT\tPROCESSED\tERROR\tRECEIVED\tTOKENS\tCOST_USD\tP50_MS\tP95_MS"
	row := func(first string, s *callbacksv1.CallbackStats) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", first, s.GetCount(),
			s.GetByStatus()["processed"], s.GetByStatus()["error"], s.GetByStatus()["received"],
			s.GetTotalTokens(), strconv.FormatFloat(s.GetCostUsd(), 'f', 4, 64), duration(s, s.GetDurationP50Ms(), res.GetDurationsEstimated()), duration(s, s.GetDurationP95Ms(), res.GetDurationsEstimated()))
	}
	fmt.Fprintln(tw, "BUCKET\t"+header)
	for _, b := range res.GetBuckets() {
		row(formatTime(b.GetStartTime()), b.GetStats())
	}
	row("total", res.GetTotal())
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "WORKFLOW\t"+header)
	for _, w := range res.GetWorkflows() {
		name := w.GetWorkflowName()
		if name == "" {
			name = "-"
		}
		row(name, w.GetStats())
	}
	return tw.Flush()
}

// duration is a percentile cell: "-" when no workflow reported a duration,
// "~" before an estimate (as before an estimated total).
func duration(s *callbacksv1.CallbackStats, ms int64, estimated bool) string {
	if s.GetDurationCount() == 0 {
		return "-"
	}
	return map[bool]string{true: "~"}[estimated] + strconv.FormatInt(ms, 10)
}

// ViewAllCmd marks many callbacks viewed.
type ViewAllCmd struct {
	FilterFlags
}

// Run marks every matching callback viewed by the token's admin.
func (c *ViewAllCmd) Run(ctx context.Context, g *Globals) error {
	client, err := g.client()
	if err != nil {
		return err
	}
	defer client.Close()
	after, before := c.times()
	n, err := client.MarkAllViewed(ctx, &callbacksv1.MarkAllViewedRequest{
		Status: statusValue(c.Status), EventType: c.Event, WorkflowName: c.Workflow, ExternalJobId: c.Job,
		CreateTimeAfter: after, CreateTimeBefore: before, Query: c.Q,
	})
	if err != nil {
		return fmt.Errorf("mark all viewed: %w", err)
	}
	if g.Output == "json" {
		return writeJSON(g.stdout, &callbacksv1.MarkAllViewedResponse{Marked: n})
	}
	_, err = fmt.Fprintf(g.stdout, "marked %d callbacks viewed\n", n)
	return err
}
