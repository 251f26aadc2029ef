package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/internal/bench/benchserver"
)

// machine describes where the benchmark ran, and the load beside it.
type machine struct {
	benchserver.Machine
	loadStart string
	loadEnd   string
}

// summary is the figures of one run, or the medians of several.
type summary struct {
	n, runs                           int
	topology                          string
	p50, p99, max                     time.Duration // from the 2xx
	p50Send, p99Send                  time.Duration
	lastP50, lastP99                  time.Duration
	postP50                           time.Duration
	openTime                          time.Duration
	rssBefore, rssAfter, rssEvents    float64
	rssPerWatcher, heapPerWatcher     float64 // bytes
	rssEventsPerWatcher               float64 // growth from before the watchers to after the events
	goroutinesPerWatcher              float64
	serverCPU, clientCPU              time.Duration // per delivery
	missing, duplicates, streamErrors int           // summed over runs: each must be 0
}

// summarize reduces one run to its figures.
func summarize(r runResult) summary {
	s := summary{
		n: r.n, runs: 1, topology: r.topology,
		p50: percentile(r.lat2xx, 0.50), p99: percentile(r.lat2xx, 0.99), max: percentile(r.lat2xx, 1),
		p50Send: percentile(r.latSend, 0.50), p99Send: percentile(r.latSend, 0.99),
		lastP50: percentile(r.lastOfN, 0.50), lastP99: percentile(r.lastOfN, 0.99),
		postP50:   percentile(r.post, 0.50),
		openTime:  r.openTime,
		rssBefore: float64(r.rssBefore), rssAfter: float64(r.rssAfter), rssEvents: float64(r.rssEvents),
		rssPerWatcher:        float64(r.rssAfter-r.rssBefore) / float64(r.n),
		rssEventsPerWatcher:  float64(r.rssEvents-r.rssBefore) / float64(r.n),
		goroutinesPerWatcher: r.goroutinesPerWatcher,
		missing:              r.missing, duplicates: r.duplicates, streamErrors: r.streamErrors,
	}
	if d := r.n * len(r.lastOfN); d > 0 {
		s.serverCPU, s.clientCPU = r.serverCPU/time.Duration(d), r.clientCPU/time.Duration(d)
	}
	if r.heapBefore > 0 && r.heapAfter > 0 {
		s.heapPerWatcher = (r.heapAfter - r.heapBefore) / float64(r.n)
	}
	return s
}

// oneLine is a run's progress line.
func (r runResult) oneLine() string {
	s := summarize(r)
	return fmt.Sprintf("p50 %s p99 %s max %s, last of %d p99 %s, missing %d, RSS +%s (%s/watcher), opened in %s",
		ms(s.p50), ms(s.p99), ms(s.max), r.n, ms(s.lastP99), s.missing, mib(s.rssAfter-s.rssBefore), kib(s.rssPerWatcher), s.openTime.Round(time.Millisecond))
}

// percentile returns the q-quantile of ds by nearest rank (q = 1: the
// maximum), or 0 for no values.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// median returns the median of the values f picks from ss.
func median[T int | float64 | time.Duration](ss []summary, f func(summary) T) T {
	v := make([]T, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// report is everything the program prints.
type report struct {
	cfg      config
	machine  machine
	rows     []summary
	failures []string
}

// newReport groups the runs by configuration and takes the medians of
// repeated runs; counts of failures are summed instead.
func newReport(cfg config, m machine, results []runResult, failures []string) report {
	rep := report{cfg: cfg, machine: m, failures: failures}
	for _, n := range cfg.watchers {
		for _, topo := range cfg.topologies {
			var ss []summary
			for _, r := range results {
				if r.n == n && r.topology == topo {
					ss = append(ss, summarize(r))
					for _, note := range r.notes {
						rep.failures = append(rep.failures, fmt.Sprintf("%d watcher(s), %s: %s", n, topo, note))
					}
				}
			}
			if len(ss) == 0 {
				continue
			}
			row := summary{n: n, topology: topo, runs: len(ss)}
			d := func(f func(summary) time.Duration) time.Duration { return median(ss, f) }
			fl := func(f func(summary) float64) float64 { return median(ss, f) }
			row.p50 = d(func(s summary) time.Duration { return s.p50 })
			row.p99 = d(func(s summary) time.Duration { return s.p99 })
			row.max = d(func(s summary) time.Duration { return s.max })
			row.p50Send = d(func(s summary) time.Duration { return s.p50Send })
			row.p99Send = d(func(s summary) time.Duration { return s.p99Send })
			row.lastP50 = d(func(s summary) time.Duration { return s.lastP50 })
			row.lastP99 = d(func(s summary) time.Duration { return s.lastP99 })
			row.postP50 = d(func(s summary) time.Duration { return s.postP50 })
			row.openTime = d(func(s summary) time.Duration { return s.openTime })
			row.rssBefore = fl(func(s summary) float64 { return s.rssBefore })
			row.rssAfter = fl(func(s summary) float64 { return s.rssAfter })
			row.rssEvents = fl(func(s summary) float64 { return s.rssEvents })
			row.serverCPU = d(func(s summary) time.Duration { return s.serverCPU })
			row.clientCPU = d(func(s summary) time.Duration { return s.clientCPU })
			row.rssEventsPerWatcher = fl(func(s summary) float64 { return s.rssEventsPerWatcher })
			row.rssPerWatcher = fl(func(s summary) float64 { return s.rssPerWatcher })
			row.heapPerWatcher = fl(func(s summary) float64 { return s.heapPerWatcher })
			row.goroutinesPerWatcher = fl(func(s summary) float64 { return s.goroutinesPerWatcher })
			for _, s := range ss {
				row.missing += s.missing
				row.duplicates += s.duplicates
				row.streamErrors += s.streamErrors
			}
			rep.rows = append(rep.rows, row)
		}
	}
	return rep
}

// failure returns an error if any delivery went missing or anything failed.
func (rep report) failure() error {
	var missing, dups, streams int
	for _, r := range rep.rows {
		missing, dups, streams = missing+r.missing, dups+r.duplicates, streams+r.streamErrors
	}
	if missing+dups+streams > 0 || len(rep.failures) > 0 {
		return fmt.Errorf("%d missing deliveries, %d duplicates, %d streams ended early, %d other problem(s): see the report", missing, dups, streams, len(rep.failures))
	}
	return nil
}

// writeMarkdown prints the report as Markdown.
func writeMarkdown(w io.Writer, rep report, args []string) {
	m, cfg := rep.machine, rep.cfg
	fmt.Fprintf(w, "### Watch fan-out: %s, %s\n\n", cfg.db, cfg.protocol)
	fmt.Fprintf(w, "`go run ./bench/watchload %s`\n\n", strings.Join(args, " "))
	fmt.Fprintf(w, "- Machine: %d CPUs (%s), %s RAM, Linux %s, %s\n", m.CPUs, m.CPUModel, m.Memory, m.Kernel, m.GoVersion)
	fmt.Fprintf(w, "- Database: %s\n", m.Database)
	fmt.Fprintf(w, "- Load average (1/5/15 min) at start: %s, at end: %s\n", m.loadStart, m.loadEnd)
	fmt.Fprintf(w, "- %d callbacks per run, posted one at a time, each after the previous one reached every watcher, plus %v; server --heartbeat %v, --watch-buffer %d; %d run(s) per configuration, medians shown\n\n",
		cfg.events, cfg.gap, cfg.heartbeat, cfg.watchBuffer, cfg.repeat)

	fmt.Fprintln(w, "Latency from the POST's 200 to a watcher's receipt (a slight underestimate of commit → watcher), and from before the POST was sent (an overestimate: it includes the ingest):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| watchers | topology | protocol | p50 | p99 | max | p50 from send | p99 from send | last of N p50 | last of N p99 | missing | RSS per idle watcher |")
	fmt.Fprintln(w, "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rep.rows {
		missing := strconv.Itoa(r.missing)
		if r.missing > 0 {
			missing = "**" + missing + "**"
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.n, r.topology, cfg.protocol, ms(r.p50), ms(r.p99), ms(r.max), ms(r.p50Send), ms(r.p99Send),
			ms(r.lastP50), ms(r.lastP99), missing, perWatcher(r, kib(r.rssPerWatcher)))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The server the watchers are connected to: RSS before opening the watchers → %v after opening → after the events, and that last growth per watcher; Go heap in use and goroutines added per watcher; CPU time per delivery while posting, of that server and of this process (the watchers):\n", cfg.settle)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| watchers | topology | RSS | RSS per watcher after the events | heap in use per watcher | goroutines per watcher | server CPU per delivery | client CPU per delivery | time to open all | POST p50 | runs |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rep.rows {
		fmt.Fprintf(w, "| %d | %s | %s → %s → %s | %s | %s | %.2f | %s | %s | %s | %s | %d |\n",
			r.n, r.topology, mib(r.rssBefore), mib(r.rssAfter), mib(r.rssEvents),
			perWatcher(r, kib(r.rssEventsPerWatcher)), perWatcher(r, kib(r.heapPerWatcher)),
			r.goroutinesPerWatcher, us(r.serverCPU), us(r.clientCPU), r.openTime.Round(time.Millisecond), ms(r.postP50), r.runs)
	}
	fmt.Fprintln(w)
	var dups, streams int
	for _, r := range rep.rows {
		dups, streams = dups+r.duplicates, streams+r.streamErrors
	}
	if dups > 0 || streams > 0 {
		fmt.Fprintf(w, "**%d duplicate deliveries, %d streams ended early.**\n\n", dups, streams)
	}
	for _, f := range rep.failures {
		fmt.Fprintf(w, "- **%s**\n", f)
	}
}

// perWatcher shows a per-watcher memory figure only where there are enough
// watchers for it to rise above the noise of the heap.
func perWatcher(r summary, v string) string {
	if r.n < 1000 {
		return "—"
	}
	return v
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// us formats a duration in microseconds.
func us(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// kib formats bytes in KiB.
func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }

// mib formats bytes in MiB.
func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }
