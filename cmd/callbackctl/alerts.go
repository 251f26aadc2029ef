package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

// AlertsCmd reads alerting.
type AlertsCmd struct {
	Rules      AlertRulesCmd      `cmd:"" help:"List the alert rules of the server's --alerts-config."`
	Deliveries AlertDeliveriesCmd `cmd:"" help:"List alert deliveries, newest first, with the error of every failed attempt."`
}

// AlertRulesCmd lists the rules.
type AlertRulesCmd struct{}

// Run prints one rule per line.
func (AlertRulesCmd) Run(ctx context.Context, g *Globals) error {
	client, err := g.client()
	if err != nil {
		return err
	}
	defer client.Close()
	res, err := client.AlertRules(ctx)
	if err != nil {
		return fmt.Errorf("alert rules: %w", err)
	}
	if g.Output == "json" {
		return writeJSON(g.stdout, res)
	}
	if !res.GetEnabled() {
		_, err := fmt.Fprintln(g.stdout, "alerts are off (the server runs without --alerts-config)")
		return err
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tKIND\tCHANNELS\tWHEN")
	for _, r := range res.GetRules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.GetName(), r.GetKind(), strings.Join(r.GetChannels(), ","), r.GetSummary())
	}
	return tw.Flush()
}

// AlertDeliveriesCmd lists deliveries.
type AlertDeliveriesCmd struct {
	Limit     int32  `help:"Deliveries per page (at most 100)." default:"25"`
	PageToken string `help:"Next page token printed by the previous page."`
}

// Run prints one delivery per line, and the errors of its failed attempts
// below it.
func (c *AlertDeliveriesCmd) Run(ctx context.Context, g *Globals) error {
	client, err := g.client()
	if err != nil {
		return err
	}
	defer client.Close()
	res, err := client.AlertDeliveries(ctx, &callbacksv1.ListAlertDeliveriesRequest{PageSize: c.Limit, PageToken: c.PageToken})
	if err != nil {
		return fmt.Errorf("alert deliveries: %w", err)
	}
	if g.Output == "json" {
		return writeJSON(g.stdout, res)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tRULE\tCHANNEL\tSTATUS\tATTEMPTS\tALERT")
	for _, d := range res.GetDeliveries() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\n", formatTime(d.GetCreateTime()), d.GetRule(), d.GetChannel(), d.GetStatus(), d.GetAttempts(), d.GetMaxAttempts(), d.GetTitle())
		for _, e := range d.GetErrors() {
			fmt.Fprintf(tw, "\t\t\t  attempt %d\t%s\t%s\n", e.GetAttempt(), formatTime(e.GetTime()), e.GetError())
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next := res.GetNextPageToken(); next != "" {
		_, err := fmt.Fprintf(g.stdout, "next page: --page-token %s\n", next)
		return err
	}
	return nil
}
