package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A pid names a process only for a while: the kernel hands it to another
// one once the first is gone, and a copy of the state directory carries the
// pid of a process that may still run beside it. A lock holder is therefore
// named by its machine, that machine's boot, its pid and the moment its
// process started (Linux: /proc).

// procRoot is where the kernel shows its processes; a variable so that a
// test can stand in for a machine without /proc.
var procRoot = "/proc"

// bootID returns the id the kernel drew at this boot, "" where it does not
// tell (no /proc).
func bootID() string {
	b, err := os.ReadFile(procRoot + "/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// processStart returns when pid started, in clock ticks since boot: field
// 22 of /proc/PID/stat. A process keeps it for life, and two processes that
// have the same pid in one boot cannot have the same start time.
func processStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return 0, err
	}
	return parseStatStart(b)
}

// parseStatStart reads field 22 (starttime) of a /proc/PID/stat line.
// Field 2 is the command name in parentheses, and the name may itself hold
// spaces and parentheses, so the fields are counted from the last ')'.
func parseStatStart(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat line %q has no command name", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (the state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc stat line %q has %d fields, want 22 or more", stat, len(f)+2)
	}
	n, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("/proc stat line %q: start time %q is not a tick count", stat, f[19])
	}
	return n, nil
}

// clockTicks is USER_HZ, the unit of the start time: 100 on every Linux
// architecture runbook is built for (sysconf(_SC_CLK_TCK) needs cgo).
const clockTicks = 100

// bootTime returns when this machine booted, zero where /proc/stat does not
// say.
func bootTime() time.Time {
	b, err := os.ReadFile(procRoot + "/stat")
	if err != nil {
		return time.Time{}
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && s > 0 {
				return time.Unix(s, 0)
			}
		}
	}
	return time.Time{}
}

// pidExists reports whether a process of this machine has pid. EPERM means
// one exists that belongs to another user.
func pidExists(pid int) bool {
	return pid > 0 && !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
