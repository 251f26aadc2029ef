package benchserver

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" driver, to ask SQLite its version
)

// Machine describes where a benchmark ran, for its report.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Memory    string `json:"memory"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	Database  string `json:"database"`
}

// DescribeMachine reads the CPU, memory and kernel from /proc and asks the
// database of kind ("sqlite" or "postgres", the latter at pgURL) for its
// version and durability settings.
func DescribeMachine(ctx context.Context, kind, pgURL string) (Machine, error) {
	m := Machine{
		CPUs:      runtime.NumCPU(),
		CPUModel:  ProcField("/proc/cpuinfo", "model name"),
		Kernel:    strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		GoVersion: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
	}
	if kb, err := strconv.ParseFloat(strings.TrimSuffix(ProcField("/proc/meminfo", "MemTotal"), " kB"), 64); err == nil {
		m.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
	}
	switch kind {
	case "sqlite":
		db, err := sql.Open("sqlite", ":memory:")
		if err != nil {
			return m, err
		}
		defer db.Close()
		var v string
		if err := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v); err != nil {
			return m, fmt.Errorf("ask SQLite its version: %w", err)
		}
		m.Database = "SQLite " + v + " (modernc.org/sqlite), file in a temporary directory"
	case "postgres":
		db, err := sql.Open("postgres", pgURL)
		if err != nil {
			return m, err
		}
		defer db.Close()
		var settings []string
		for _, name := range []string{"server_version", "synchronous_commit", "fsync", "shared_buffers"} {
			var v string
			if err := db.QueryRowContext(ctx, "SHOW "+name).Scan(&v); err != nil {
				return m, fmt.Errorf("ask PostgreSQL at -pg-url for %s: %w", name, err)
			}
			settings = append(settings, name+"="+v)
		}
		m.Database = "PostgreSQL on the same machine (" + strings.Join(settings, ", ") + ")"
	}
	return m, nil
}

// ProcField returns the value of the first "key: value" line of a /proc
// file, or "unknown".
func ProcField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// LoadAverage returns the 1, 5 and 15 minute load averages: on a shared
// machine, a run beside other work is worth knowing about.
func LoadAverage() string {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// readFile returns a file's content, or "unknown".
func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return string(b)
}
