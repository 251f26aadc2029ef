package benchserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of /proc CPU times: USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// ProcessCPU returns the CPU time (user and system) process pid has used.
func ProcessCPU(pid int) (time.Duration, error) {
	comm, ticks, err := procStat(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read the CPU time of %s (pid %d): %w", comm, pid, err)
	}
	return ticks, nil
}

// SelfCPU returns the CPU time this process has used.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PostgresCPU returns the CPU time used so far by the processes named
// "postgres" that are running now: every backend and background process of
// every cluster on the machine. Backends that have exited are not counted,
// so take both readings while the measured connections are open.
func PostgresCPU() time.Duration {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	var total time.Duration
	for _, p := range paths {
		if comm, ticks, err := procStat(p); err == nil && comm == "postgres" {
			total += ticks
		}
	}
	return total
}

// procStat reads the command name and the user plus system CPU time from a
// /proc/<pid>/stat file.
func procStat(path string) (comm string, cpu time.Duration, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	// The command name is in parentheses and may itself hold spaces; the
	// fields after it start with field 3 (state); utime and stime are
	// fields 14 and 15.
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndex(s, ") ")
	if open < 0 || end < open {
		return "", 0, fmt.Errorf("malformed %s", path)
	}
	comm = s[open+1 : end]
	f := strings.Fields(s[end+2:])
	if len(f) < 13 {
		return comm, 0, fmt.Errorf("short %s: %q", path, Truncate(s, 100))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return comm, 0, err
	}
	return comm, time.Duration(utime+stime) * clockTick, nil
}

// MachineCPU is a reading of the machine's CPU time counters (the "cpu"
// line of /proc/stat), summed over all CPUs.
type MachineCPU struct {
	Total time.Duration // every state, idle included
	Steal time.Duration // taken by the hypervisor for other guests
}

// ReadMachineCPU reads the machine's CPU counters; the zero value if
// /proc/stat cannot be read.
func ReadMachineCPU() MachineCPU {
	line, _, _ := strings.Cut(readFile("/proc/stat"), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return MachineCPU{}
	}
	var m MachineCPU
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest times are already counted in user time
			break
		}
		m.Total += time.Duration(n) * clockTick
		if i == 7 {
			m.Steal = time.Duration(n) * clockTick
		}
	}
	return m
}

// StealPercent is the share of the machine's CPU time between two readings
// that the hypervisor gave to other guests: a run with much of it was
// measured on a busy host.
func StealPercent(before, after MachineCPU) float64 {
	total := after.Total - before.Total
	if total <= 0 {
		return 0
	}
	return 100 * float64(after.Steal-before.Steal) / float64(total)
}
