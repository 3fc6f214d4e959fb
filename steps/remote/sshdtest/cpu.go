package sshdtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the times in /proc/PID/stat (sysconf(_SC_CLK_TCK),
// 100 on every Linux this runs on).
const userHZ = 100

// CPU returns the processor time the host has used so far: its sshd
// listener and every live process below it (each connection's sshd, a
// host shell that lives as long as its connection, what runs in it),
// each with the processes it has reaped: the shells, wrappers and
// commands of the runs that have ended. A live process's time is in no
// parent's yet, so nothing is counted twice. Benchmarks read it before
// and after to say what the host's side of a run costs. Linux only
// (/proc).
func (h *Host) CPU() (time.Duration, error) {
	if h.PID == 0 {
		return 0, fmt.Errorf("sshd is not running")
	}
	total, err := procCPU(h.PID)
	if err != nil {
		return 0, err
	}
	for _, pid := range descendants(h.PID) {
		if t, err := procCPU(pid); err == nil { // else it ended meanwhile
			total += t
		}
	}
	return total * time.Second / userHZ, nil
}

// procCPU is utime+stime+cutime+cstime of pid, in ticks.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return ticks(statFields(string(b)))
}

// statFields are the fields of /proc/PID/stat after the command name
// (which may hold spaces): f[0] is the state, f[1] the parent's pid.
func statFields(s string) []string {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// ticks sums utime, stime, cutime and cstime (fields 14-17 of stat).
func ticks(f []string) (time.Duration, error) {
	if len(f) < 15 {
		return 0, fmt.Errorf("short /proc stat line")
	}
	var t time.Duration
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		t += time.Duration(n)
	}
	return t, nil
}
