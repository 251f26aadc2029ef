package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbackclient "github.com/callbackd/callbackd/clients/go"
	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
)

// ListCmd lists callbacks.
type ListCmd struct {
	FilterFlags
	Unviewed bool     `help:"Only callbacks you have not viewed."`
	Total    bool     `help:"Print the number of matching callbacks (exact up to 10,000, then an estimate marked ~) after the table, or as total_size with -o json."`
	Limit    int      `help:"Print at most this many callbacks; 0 prints all, page after page." default:"25"`
	Columns  []string `help:"Table columns, comma-separated, from: ${columns}." default:"id,event,workflow,job,status,deliveries,received,viewed" sep:","`
}

// columns are the table columns list can print, each with its heading and
// how to read it from a callback.
var columns = []struct {
	name  string
	value func(*callbacksv1.Callback) string
}{
	{"id", (*callbacksv1.Callback).GetId},
	{"callback-id", (*callbacksv1.Callback).GetCallbackId},
	{"event", (*callbacksv1.Callback).GetEventType},
	{"workflow", (*callbacksv1.Callback).GetWorkflowName},
	{"job", (*callbacksv1.Callback).GetExternalJobId},
	{"step", (*callbacksv1.Callback).GetStepId},
	{"status", func(c *callbacksv1.Callback) string { return statusName(c.GetStatus()) }},
	{"deliveries", func(c *callbacksv1.Callback) string { return strconv.Itoa(int(c.GetDeliveryCount())) }},
	{"received", func(c *callbacksv1.Callback) string { return formatTime(c.GetCreateTime()) }},
	{"last-delivery", func(c *callbacksv1.Callback) string { return formatTime(c.GetLastDeliveryTime()) }},
	{"signature", func(c *callbacksv1.Callback) string { return c.GetSignature().GetScheme() }},
	{"viewed", func(c *callbacksv1.Callback) string {
		return map[bool]string{true: "yes", false: "no"}[c.GetViewedByMe()]
	}},
	{"preview", (*callbacksv1.Callback).GetPayloadPreview},
}

// columnNames lists the names of columns, for --help.
func columnNames() string {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// Run lists callbacks page by page up to the limit.
func (c *ListCmd) Run(ctx context.Context, g *Globals) error {
	var show []func(*callbacksv1.Callback) string
	for _, name := range c.Columns {
		i := columnIndex(name)
		if i < 0 {
			return usageErrorf("--columns: unknown column %q (known: %s)", name, columnNames())
		}
		show = append(show, columns[i].value)
	}
	client, err := g.client()
	if err != nil {
		return err
	}
	defer client.Close()
	after, before := c.times()
	req := &callbacksv1.ListCallbacksRequest{
		Status:           statusValue(c.Status),
		EventType:        c.Event,
		WorkflowName:     c.Workflow,
		ExternalJobId:    c.Job,
		CreateTimeAfter:  after,
		CreateTimeBefore: before,
		UnviewedOnly:     c.Unviewed,
		Query:            c.Q,
	}
	var (
		all   []*callbacksv1.Callback
		total *callbacksv1.ListCallbacksResponse // the first page, with the count
	)
	req.IncludeTotalSize = c.Total
	for c.Limit == 0 || len(all) < c.Limit {
		if c.Limit > 0 {
			req.PageSize = int32(min(c.Limit-len(all), 100))
		}
		page, err := client.List(ctx, req)
		if err != nil {
			return fmt.Errorf("list callbacks: %w", err)
		}
		all = append(all, page.GetCallbacks()...)
		if req.IncludeTotalSize {
			total, req.IncludeTotalSize = page, false // counted once
		}
		if req.PageToken = page.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if g.Output == "json" && c.Total {
		return writeJSON(g.stdout, &callbacksv1.ListCallbacksResponse{Callbacks: all, TotalSize: total.GetTotalSize(), TotalSizeIsEstimate: total.GetTotalSizeIsEstimate()})
	}
	if g.Output == "json" {
		return writeJSONArray(g.stdout, all)
	}
	if c.Total {
		defer func() {
			approx := map[bool]string{true: "~"}[total.GetTotalSizeIsEstimate()]
			fmt.Fprintf(g.stdout, "%d shown of %s%d\n", len(all), approx, total.GetTotalSize())
		}()
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(c.Columns, "\t")))
	for _, cb := range all {
		cells := make([]string, len(show))
		for i, value := range show {
			cells[i] = value(cb)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// columnIndex returns the index of the column named name, or -1.
func columnIndex(name string) int {
	for i, c := range columns {
		if c.name == name {
			return i
		}
	}
	return -1
}

// GetCmd shows one callback.
type GetCmd struct {
	ID  string `arg:"" help:"Callback id (UUID)."`
	Raw bool   `help:"Print the exact body bytes of the latest delivery, nothing else."`
}

// Run prints the callback as indented JSON, or its raw body.
func (c *GetCmd) Run(ctx context.Context, g *Globals) error {
	client, err := g.client()
	if err != nil {
		return err
	}
	defer client.Close()
	cb, err := client.Get(ctx, c.ID)
	if err != nil {
		return err // the server's message names the callback
	}
	if c.Raw {
		_, err := g.stdout.Write(cb.GetPayload())
		return err
	}
	return writeJSON(g.stdout, cb)
}

// ViewCmd marks a callback viewed.
type ViewCmd struct {
	ID string `arg:"" help:"Callback id (UUID)."`
}

// Run marks the callback viewed by the token's admin.
func (c *ViewCmd) Run(ctx context.Context, g *Globals) error {
	client, err := g.client()
	if err != nil {
		return err
	}
	defer client.Close()
	v, err := client.MarkViewed(ctx, c.ID)
	if err != nil {
		return err // the server's message names the callback
	}
	if g.Output == "json" {
		return writeJSON(g.stdout, v)
	}
	_, err = fmt.Fprintf(g.stdout, "viewed %s by %s at %s\n", v.GetCallbackId(), v.GetAdminName(), formatTime(v.GetViewTime()))
	return err
}

// WatchCmd tails the event stream.
type WatchCmd struct {
	Cursor string `help:"Start after this cursor (each line ends with its event's cursor); default: from now."`
	JSON   bool   `help:"Print each event as one line of JSON (NDJSON), as -o json does."`
}

// Run prints events until interrupted, reconnecting after disconnects.
func (c *WatchCmd) Run(ctx context.Context, g *Globals) error {
	client, err := g.client()
	if err != nil {
		return err
	}
	defer client.Close()
	asJSON := c.JSON || g.Output == "json"
	return client.Watch(ctx, callbackclient.WatchOptions{Cursor: c.Cursor, OnRetry: retryLogger(g.stderr)}, func(ev *callbacksv1.CallbackEvent) error {
		if asJSON {
			return writeJSONLine(g.stdout, ev)
		}
		_, err := fmt.Fprintln(g.stdout, eventLine(ev))
		return err
	})
}

// retryLogger reports the reconnections of a watch on w.
func retryLogger(w io.Writer) func(error, time.Duration) {
	return func(err error, delay time.Duration) {
		if err == nil {
			err = fmt.Errorf("the server ended the stream")
		}
		fmt.Fprintf(w, "callbackctl: watch interrupted: %v; reconnecting in %s\n", err, delay.Round(time.Millisecond))
	}
}

// eventLine formats an event on one line for people.
func eventLine(ev *callbacksv1.CallbackEvent) string {
	if b := ev.GetViewedMany(); b != nil {
		return fmt.Sprintf("%s viewed-all count=%d by=%q cursor=%s", formatTime(b.GetViewTime()), b.GetCount(), b.GetAdminName(), ev.GetCursor())
	}
	if v := ev.GetViewed(); v != nil {
		return fmt.Sprintf("%s viewed id=%s by=%q cursor=%s", formatTime(v.GetViewTime()), v.GetCallbackId(), v.GetAdminName(), ev.GetCursor())
	}
	kind, cb := "received", ev.GetReceived()
	if cb == nil {
		kind, cb = "redelivered", ev.GetRedelivered()
	}
	return fmt.Sprintf("%s %s %s workflow=%s job=%s status=%s deliveries=%d id=%s cursor=%s",
		formatTime(cb.GetLastDeliveryTime()), kind, cb.GetEventType(), cb.GetWorkflowName(), cb.GetExternalJobId(),
		statusName(cb.GetStatus()), cb.GetDeliveryCount(), cb.GetId(), ev.GetCursor())
}

// statusName is a status as the flags and tables write it: "processed".
func statusName(s callbacksv1.CallbackStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "CALLBACK_STATUS_"))
}

// statusValue parses a status name; "" is no status.
func statusValue(name string) callbacksv1.CallbackStatus {
	if name == "" {
		return callbacksv1.CallbackStatus_CALLBACK_STATUS_UNSPECIFIED
	}
	return callbacksv1.CallbackStatus(callbacksv1.CallbackStatus_value["CALLBACK_STATUS_"+strings.ToUpper(name)])
}

// formatTime writes a time in UTC to the second.
func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// jsonOptions write messages with the field names of the REST API.
var jsonOptions = protojson.MarshalOptions{UseProtoNames: true}

// writeJSON writes m as indented JSON.
func writeJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return err
	}
	return writeIndented(w, b)
}

// writeJSONArray writes callbacks as an indented JSON array.
func writeJSONArray(w io.Writer, callbacks []*callbacksv1.Callback) error {
	b := []byte{'['}
	for i, cb := range callbacks {
		if i > 0 {
			b = append(b, ',')
		}
		one, err := jsonOptions.Marshal(cb)
		if err != nil {
			return err
		}
		b = append(b, one...)
	}
	return writeIndented(w, append(b, ']'))
}

// writeIndented writes JSON b indented, with a final newline. (protojson's
// own layout is deliberately unstable.)
func writeIndented(w io.Writer, b []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// writeJSONLine writes m as one line of JSON.
func writeJSONLine(w io.Writer, m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}
