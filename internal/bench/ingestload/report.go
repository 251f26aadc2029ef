package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/internal/bench/benchserver"
)

// runResult is one mode's figures in one repeat. Latencies are of the 200s
// sent after the warm-up, in milliseconds.
type runResult struct {
	Mode       string                 `json:"mode"`
	Repeat     int                    `json:"repeat"`
	OK         int                    `json:"ok"`
	Throughput float64                `json:"throughput_rps"`
	P50        float64                `json:"p50_ms"`
	P99        float64                `json:"p99_ms"`
	P999       float64                `json:"p999_ms"`
	Max        float64                `json:"max_ms"`
	Elapsed    float64                `json:"measured_seconds"`
	Errors     map[string]*errorCount `json:"errors"` // warm-up included
	Acked      int                    `json:"acknowledged"`
	Rows       *int64                 `json:"rows_stored,omitempty"` // nil in discard mode
	LoadAvg    string                 `json:"load_average"`          // of the machine, at the end of the run
	// CPU time per request over the measured time, in microseconds: of the
	// server, of PostgreSQL's processes (0 on SQLite), and of this load
	// generator; and the share of the machine's CPU time the hypervisor
	// gave to other guests. They are steadier than latencies on a shared
	// machine, and tell a slow run from a busy host. PostgreSQL's counts
	// the processes alive at both readings: a connection the server closes
	// in between takes its backend's CPU time with it.
	ServerCPU   float64  `json:"server_cpu_us_per_request"`
	PostgresCPU float64  `json:"postgres_cpu_us_per_request"`
	LoadgenCPU  float64  `json:"loadgen_cpu_us_per_request"`
	Steal       float64  `json:"steal_percent"`
	Notes       []string `json:"notes,omitempty"`
}

// cpuReading is the CPU time counters that a run compares.
type cpuReading struct {
	server, postgres, self time.Duration
	machine                benchserver.MachineCPU
	err                    error
}

// readCPU reads the counters of the server process pid, of PostgreSQL when
// db is "postgres", of this process and of the machine.
func readCPU(pid int, db string) cpuReading {
	r := cpuReading{self: benchserver.SelfCPU(), machine: benchserver.ReadMachineCPU()}
	r.server, r.err = benchserver.ProcessCPU(pid)
	if db == "postgres" {
		r.postgres = benchserver.PostgresCPU()
	}
	return r
}

// setCPU records the CPU used per request between two readings.
func (r *runResult) setCPU(before, after cpuReading) {
	if err := errors.Join(before.err, after.err); err != nil || r.OK == 0 || before.machine.Total == 0 {
		if err != nil {
			r.Notes = append(r.Notes, "CPU time not measured: "+err.Error())
		}
		return
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(r.OK) }
	r.ServerCPU = per(after.server - before.server)
	r.PostgresCPU = per(after.postgres - before.postgres)
	r.LoadgenCPU = per(after.self - before.self)
	r.Steal = benchserver.StealPercent(before.machine, after.machine)
}

// newRunResult computes the figures of one load run.
func newRunResult(mode string, load loadResult) runResult {
	slices.Sort(load.latencies)
	ms := func(q float64) float64 { return float64(percentile(load.latencies, q)) / 1e6 }
	r := runResult{
		Mode:    mode,
		OK:      len(load.latencies),
		P50:     ms(0.50),
		P99:     ms(0.99),
		P999:    ms(0.999),
		Max:     ms(1),
		Elapsed: load.elapsed.Seconds(),
		Errors:  load.errors,
		Acked:   load.acked,
		LoadAvg: benchserver.LoadAverage(),
	}
	if load.elapsed > 0 {
		r.Throughput = float64(r.OK) / load.elapsed.Seconds()
	}
	if load.exhausted {
		r.Notes = append(r.Notes, "the pre-built callbacks ran out before the measured time ended; raise -callbacks")
	}
	return r
}

// percentile returns the nearest-rank q-quantile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

// errorTotal is the number of failed requests.
func (r *runResult) errorTotal() int {
	var n int
	for _, e := range r.Errors {
		n += e.Count
	}
	return n
}

// rowsText is "rows / acknowledged", or "—" when nothing is stored.
func (r *runResult) rowsText() string {
	if r.Rows == nil {
		return "—"
	}
	mark := "✓"
	if *r.Rows != int64(r.Acked) {
		mark = "✗ MISMATCH"
	}
	return fmt.Sprintf("%d / %d %s", *r.Rows, r.Acked, mark)
}

// oneLine summarises the run for the progress output.
func (r *runResult) oneLine() string {
	return fmt.Sprintf("%.0f req/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms, ok %d, errors %d, rows %s",
		r.Throughput, r.P50, r.P99, r.P999, r.Max, r.OK, r.errorTotal(), r.rowsText())
}

// modeSummary is a mode's medians across repeats.
type modeSummary struct {
	Mode       string  `json:"mode"`
	Runs       int     `json:"runs"`
	Throughput float64 `json:"median_throughput_rps"`
	P50        float64 `json:"median_p50_ms"`
	P99        float64 `json:"median_p99_ms"`
	P999       float64 `json:"median_p999_ms"`
	Max        float64 `json:"max_ms"` // the largest of all repeats
	ServerCPU  float64 `json:"median_server_cpu_us_per_request"`
	PgCPU      float64 `json:"median_postgres_cpu_us_per_request"`
	OK         int     `json:"ok"`
	Errors     int     `json:"errors"`
	RowsMatch  *bool   `json:"rows_match,omitempty"`
}

// ratios compare the group mode with its references, from the medians.
type ratios struct {
	GroupOverNaiveThroughput   *float64 `json:"group_over_naive_throughput,omitempty"`
	GroupOverDiscardThroughput *float64 `json:"group_over_discard_throughput,omitempty"`
	GroupOverNaiveP50          *float64 `json:"group_over_naive_p50,omitempty"`
	GroupOverNaiveP99          *float64 `json:"group_over_naive_p99,omitempty"`
}

// loadSettings is the load as configured.
type loadSettings struct {
	Command     string      `json:"command"`
	DB          string      `json:"db"`
	Modes       []string    `json:"modes"`
	Concurrency int         `json:"concurrency"`
	Rate        float64     `json:"rate_rps,omitempty"`
	Warmup      string      `json:"warmup"`
	Duration    string      `json:"duration"`
	Repeat      int         `json:"repeat"`
	SizeMix     []sizeShare `json:"size_mix"`
	Callbacks   int         `json:"callbacks_per_run"`
}

// report is everything the program prints, and what -json writes.
type report struct {
	Machine benchserver.Machine `json:"machine"`
	Load    loadSettings        `json:"load"`
	Summary []modeSummary       `json:"summary"`
	Ratios  ratios              `json:"ratios"`
	Runs    []runResult         `json:"runs"`
}

// newReport summarises the runs per mode and compares the modes.
func newReport(cfg config, m benchserver.Machine, runs []runResult) report {
	rep := report{
		Machine: m,
		Load: loadSettings{
			Command:     strings.Join(append([]string{"go run ./bench/ingestload"}, os.Args[1:]...), " "),
			DB:          cfg.db,
			Modes:       cfg.modes,
			Concurrency: cfg.concurrency,
			Rate:        cfg.rate,
			Warmup:      cfg.warmup.String(),
			Duration:    cfg.duration.String(),
			Repeat:      cfg.repeat,
			SizeMix:     cfg.sizeMix,
			Callbacks:   cfg.callbacks,
		},
		Runs: runs,
	}
	byMode := map[string]modeSummary{}
	for _, mode := range cfg.modes {
		var tput, p50, p99, p999, srvCPU, pgCPU []float64
		s := modeSummary{Mode: mode}
		for _, r := range runs {
			if r.Mode != mode {
				continue
			}
			s.Runs++
			tput, p50, p99, p999 = append(tput, r.Throughput), append(p50, r.P50), append(p99, r.P99), append(p999, r.P999)
			srvCPU, pgCPU = append(srvCPU, r.ServerCPU), append(pgCPU, r.PostgresCPU)
			s.Max = max(s.Max, r.Max)
			s.OK += r.OK
			s.Errors += r.errorTotal()
			if r.Rows != nil {
				match := *r.Rows == int64(r.Acked) && (s.RowsMatch == nil || *s.RowsMatch)
				s.RowsMatch = &match
			}
		}
		s.Throughput, s.P50, s.P99, s.P999 = median(tput), median(p50), median(p99), median(p999)
		s.ServerCPU, s.PgCPU = median(srvCPU), median(pgCPU)
		rep.Summary = append(rep.Summary, s)
		byMode[mode] = s
	}
	ratio := func(a, b string, f func(modeSummary) float64) *float64 {
		x, okA := byMode[a]
		y, okB := byMode[b]
		if !okA || !okB || f(y) == 0 {
			return nil
		}
		v := f(x) / f(y)
		return &v
	}
	rep.Ratios = ratios{
		GroupOverNaiveThroughput:   ratio("group", "naive", func(s modeSummary) float64 { return s.Throughput }),
		GroupOverDiscardThroughput: ratio("group", "discard", func(s modeSummary) float64 { return s.Throughput }),
		GroupOverNaiveP50:          ratio("group", "naive", func(s modeSummary) float64 { return s.P50 }),
		GroupOverNaiveP99:          ratio("group", "naive", func(s modeSummary) float64 { return s.P99 }),
	}
	return rep
}

// median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// failure reports failed requests and row count mismatches, which make the
// figures untrustworthy.
func (rep *report) failure() error {
	var errs []error
	for _, r := range rep.Runs {
		if n := r.errorTotal(); n > 0 {
			errs = append(errs, fmt.Errorf("mode %s, repeat %d: %d request(s) failed", r.Mode, r.Repeat, n))
		}
		if r.Rows != nil && *r.Rows != int64(r.Acked) {
			errs = append(errs, fmt.Errorf("mode %s, repeat %d: %d rows stored for %d distinct callbacks acknowledged", r.Mode, r.Repeat, *r.Rows, r.Acked))
		}
	}
	return errors.Join(errs...)
}

// writeMarkdown prints the report as Markdown: the setting, the medians per
// mode, the ratios, every run, and every error and note.
func writeMarkdown(w io.Writer, rep report) {
	l := rep.Load
	loop := "closed loop"
	if l.Rate > 0 {
		loop = fmt.Sprintf("open loop at %g req/s", l.Rate)
	}
	var sizes []string
	for _, s := range l.SizeMix {
		sizes = append(sizes, fmt.Sprintf("%d B %g %%", s.Bytes, s.Percent))
	}
	m := rep.Machine
	fmt.Fprintf(w, "### Ingest: %s, concurrency %d, %s\n\n", l.DB, l.Concurrency, loop)
	fmt.Fprintf(w, "- Command: `%s`\n", l.Command)
	fmt.Fprintf(w, "- Machine: %d CPUs (%s), %s RAM, Linux %s, %s\n", m.CPUs, m.CPUModel, m.Memory, m.Kernel, m.GoVersion)
	fmt.Fprintf(w, "- Database: %s\n", m.Database)
	fmt.Fprintf(w, "- Load: %d connections, %s, %s warm-up then %s measured per mode; bodies %s; %d distinct callbacks pre-built; %d interleaved repeat(s), medians shown\n\n",
		l.Concurrency, loop, l.Warmup, l.Duration, strings.Join(sizes, ", "), l.Callbacks, l.Repeat)

	fmt.Fprintln(w, "| mode | req/s | p50 ms | p99 ms | p99.9 ms | max ms | server CPU µs/req | PostgreSQL CPU µs/req | ok | errors | rows = acknowledged |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, s := range rep.Summary {
		rows := "—"
		if s.RowsMatch != nil {
			rows = map[bool]string{true: "✓ every run", false: "✗ MISMATCH"}[*s.RowsMatch]
		}
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f | %d | %d | %s |\n",
			s.Mode, s.Throughput, s.P50, s.P99, s.P999, s.Max, s.ServerCPU, s.PgCPU, s.OK, s.Errors, rows)
	}

	var rs []string
	add := func(v *float64, format string, scale float64) {
		if v != nil {
			rs = append(rs, fmt.Sprintf(format, *v*scale))
		}
	}
	if l.Rate == 0 { // at a set rate every mode that keeps up has the same throughput
		add(rep.Ratios.GroupOverNaiveThroughput, "throughput group/naive **%.2f×**", 1)
		add(rep.Ratios.GroupOverDiscardThroughput, "throughput group/discard **%.0f %%**", 100)
	}
	add(rep.Ratios.GroupOverNaiveP50, "p50 group/naive at concurrency "+strconv.Itoa(l.Concurrency)+" **%.2f**", 1)
	add(rep.Ratios.GroupOverNaiveP99, "p99 group/naive %.2f", 1)
	if len(rs) > 0 {
		fmt.Fprintf(w, "\nRatios of the medians: %s.\n", strings.Join(rs, "; "))
	}

	fmt.Fprintln(w, "\nEvery run, in the order run:")
	fmt.Fprintln(w, "\n| repeat | mode | req/s | p50 ms | p99 ms | p99.9 ms | max ms | CPU µs/req: server / PostgreSQL / load generator | steal % | ok | errors | rows stored / acknowledged | load average after |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|---|--:|--:|--:|---|---|")
	for _, r := range rep.Runs {
		fmt.Fprintf(w, "| %d | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f / %.0f / %.0f | %.1f | %d | %d | %s | %s |\n",
			r.Repeat, r.Mode, r.Throughput, r.P50, r.P99, r.P999, r.Max, r.ServerCPU, r.PostgresCPU, r.LoadgenCPU, r.Steal, r.OK, r.errorTotal(), r.rowsText(), r.LoadAvg)
	}

	var notes []string
	for _, r := range rep.Runs {
		for _, kind := range slices.Sorted(maps.Keys(r.Errors)) {
			e := r.Errors[kind]
			notes = append(notes, fmt.Sprintf("%s, repeat %d: %d × %s, e.g. %q", r.Mode, r.Repeat, e.Count, kind, e.Sample))
		}
		for _, n := range r.Notes {
			notes = append(notes, fmt.Sprintf("%s, repeat %d: %s", r.Mode, r.Repeat, n))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nErrors and notes (errors include the warm-up):")
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	fmt.Fprintln(w)
}
