package faults_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	"github.com/callbackd/callbackd/internal/testenv"
)

// serverBin is the callbackd binary TestMain builds from the working tree.
var serverBin string

// TestMain builds callbackd once for every test (with the race detector when
// FAULTS_SERVER_RACE is set) and prints the figures of every test at the end.
func TestMain(m *testing.M) {
	testenv.Report(testenv.PostgreSQL())
	dir, err := os.MkdirTemp("", "callbackd-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	serverBin, err = callbackdtest.Build(context.Background(), dir, callbackdtest.BuildOptions{Race: os.Getenv("FAULTS_SERVER_RACE") != ""})
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	printSummary()
	os.RemoveAll(dir)
	os.Exit(code)
}

// envInt reads a positive integer setting from the environment.
func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// newRand returns the test's random source, seeded from FAULTS_SEED or the
// clock; the seed is logged so that a failing run can be replayed.
func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("FAULTS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FAULTS_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("FAULTS_SEED=%d", seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// figures are what each fault test reports: the issue asks for callbacks
// sent, acknowledged, stored, lost, duplicated and gaps.
type figures struct {
	Test            string
	Sent            int // distinct logical callbacks the sender started
	Deliveries      int // deliveries (first ones and deliberate redeliveries)
	Attempts        int // HTTP requests, retries included
	Acknowledged    int // logical callbacks answered 2xx at least once
	AckedDeliveries int // deliveries answered 2xx
	Refused         int // 503 answers
	ConnErrors      int // attempts that failed without an answer
	Unexpected      int // answers other than 2xx and 503: always a bug
	Stored          int // rows in llm_callbacks afterwards
	Lost            int // acknowledged but not stored
	Duplicated      int // extra rows, or several row ids for one callback
	Gaps            int // acknowledged callbacks a watcher never saw; -1 when no watcher
	Duration        time.Duration
}

// String is the one-line summary the tests log and TestMain repeats.
func (f figures) String() string {
	gaps := "n/a"
	if f.Gaps >= 0 {
		gaps = strconv.Itoa(f.Gaps)
	}
	return fmt.Sprintf("FAULTS %s: sent=%d deliveries=%d attempts=%d acknowledged=%d acked_deliveries=%d refused_503=%d conn_errors=%d unexpected=%d stored=%d lost=%d duplicated=%d gaps=%s duration=%s",
		f.Test, f.Sent, f.Deliveries, f.Attempts, f.Acknowledged, f.AckedDeliveries, f.Refused, f.ConnErrors, f.Unexpected,
		f.Stored, f.Lost, f.Duplicated, gaps, f.Duration.Round(100*time.Millisecond))
}

var (
	summaryMu sync.Mutex
	summary   []figures
)

// report logs f and keeps it for the summary TestMain prints.
func report(t testing.TB, f figures) {
	t.Helper()
	f.Test = t.Name()
	t.Log(f.String())
	summaryMu.Lock()
	summary = append(summary, f)
	summaryMu.Unlock()
}

// printSummary prints every test's figures (visible with go test -v) and
// appends them to the file FAULTS_REPORT names, if any.
func printSummary() {
	summaryMu.Lock()
	defer summaryMu.Unlock()
	if len(summary) == 0 {
		return
	}
	var b strings.Builder
	for _, f := range summary {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	fmt.Print(b.String())
	if path := os.Getenv("FAULTS_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = f.WriteString(b.String())
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "faults: write FAULTS_REPORT:", err)
		}
	}
}
