package sshdtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// markVar names the variable sshd sets in every session of a Host (its
// SetEnv); the value is the Host's Dir, unique to it.
const markVar = "SSHDTEST_HOST"

func (h *Host) mark() string { return markVar + "=" + h.Dir }

// sessions lists the processes that carry h's mark: what its sessions
// started, whether or not their sshd still runs (a shell whose
// connection ended is the init process's child, no longer the sshd's).
func (h *Host) sessions() []int {
	want := []byte(h.mark())
	var out []int
	eachProcess("environ", func(pid int, env []byte) {
		if slices.ContainsFunc(bytes.Split(env, []byte{0}), func(v []byte) bool { return bytes.Equal(v, want) }) {
			out = append(out, pid)
		}
	})
	return out
}

// endSessions ends, with SIGKILL and each by its PID, the processes in
// also and every process that carries h's mark, and waits until those
// are gone. They are stopped first until a look finds none new, so
// that none can start another between the look and the kill.
func (h *Host) endSessions(also []int) error {
	stopped := map[int]bool{}
	stop := func(pids []int) (fresh bool) {
		for _, pid := range pids {
			if !stopped[pid] && syscall.Kill(pid, syscall.SIGSTOP) == nil {
				stopped[pid], fresh = true, true
			}
		}
		return fresh
	}
	stop(also)
	for stop(h.sessions()) {
	}
	var err error
	for pid := range stopped {
		if e := syscall.Kill(pid, syscall.SIGKILL); e != nil && e != syscall.ESRCH && err == nil {
			err = fmt.Errorf("kill %d: %w", pid, e)
		}
	}
	// A killed process may still be on its way out; what it was writing
	// must be over before the caller removes its directories.
	for deadline := time.Now().Add(10 * time.Second); len(h.sessions()) > 0; {
		if time.Now().After(deadline) {
			return fmt.Errorf("sessions of the sshd on %s still run after SIGKILL: %v", h.Addr, h.sessions())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// descendants lists the processes below pid, from /proc, children first.
func descendants(pid int) []int {
	parent := map[int][]int{}
	eachProcess("stat", func(p int, b []byte) {
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(b[bytes.LastIndexByte(b, ')')+1:])
		if f := strings.Fields(rest); len(f) >= 2 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				parent[pp] = append(parent[pp], p)
			}
		}
	})
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range parent[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// eachProcess calls fn with the pid and the contents of /proc/PID/name of
// every process whose file it can read.
func eachProcess(name string, fn func(pid int, b []byte)) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), name)); err == nil {
			fn(pid, b)
		}
	}
}
