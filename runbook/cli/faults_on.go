//go:build faults

package cli

// This file is only in test builds (go build -tags faults): it arms the
// crash points of runbook, steps/remote and secrets from the environment,
// for the crash-point sweep of runbook/e2e (RELIABILITY.md).
//
//	RUNBOOK_KILLPOINT=NAME[@N]    SIGKILL this process at the Nth hit of
//	                              NAME (default the first)
//	RUNBOOK_BARRIER=NAME=PATH     at every hit of NAME, create
//	                              PATH.ready-PID, then wait until the
//	                              FIFO at PATH is opened for writing
//	                              (lines processes up for a race)
//	RUNBOOK_HITLOG=PATH           append the name of every point hit to
//	                              PATH, one a line (how many hits a
//	                              sweep has to kill at)
//	RUNBOOK_BOOTED=now            pretend this machine booted as the
//	                              process started (a restart since any
//	                              intent it finds)
//
// An unknown NAME stops the process at once: a misspelt point would never
// fire, and a sweep over it would pass without testing anything.

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/steps/remote"
)

func init() {
	if v := os.Getenv("RUNBOOK_BOOTED"); v != "" {
		if v != "now" {
			faultsUsage("RUNBOOK_BOOTED=%q: only now is known", v)
		}
		booted := time.Now()
		remote.LocalBootTime = func() time.Time { return booted }
	}
	known := slices.Concat(runbook.Points, remote.Points, secrets.Points)
	var hooks []func(string)
	if path := os.Getenv("RUNBOOK_HITLOG"); path != "" {
		hooks = append(hooks, logHits(path))
	}
	if spec := os.Getenv("RUNBOOK_KILLPOINT"); spec != "" {
		name, n := parseKillpoint(spec, known)
		hooks = append(hooks, killAt(name, n))
	}
	if spec := os.Getenv("RUNBOOK_BARRIER"); spec != "" {
		name, path, ok := strings.Cut(spec, "=")
		if !ok || path == "" {
			faultsUsage("RUNBOOK_BARRIER=%q: want NAME=PATH", spec)
		}
		checkPoint(name, known)
		hooks = append(hooks, barrierAt(name, path))
	}
	if len(hooks) == 0 {
		return
	}
	hit := func(point string) {
		for _, h := range hooks {
			h(point)
		}
	}
	runbook.Hit, remote.Hit, secrets.Hit = hit, hit, hit
}

func parseKillpoint(spec string, known []string) (string, int64) {
	name, count, hasCount := strings.Cut(spec, "@")
	n := int64(1)
	if hasCount {
		var err error
		if n, err = strconv.ParseInt(count, 10, 64); err != nil || n < 1 {
			faultsUsage("RUNBOOK_KILLPOINT=%q: the count after @ must be a positive number", spec)
		}
	}
	checkPoint(name, known)
	return name, n
}

func checkPoint(name string, known []string) {
	if !slices.Contains(known, name) {
		faultsUsage("unknown crash point %q; known: %s", name, strings.Join(known, ", "))
	}
}

func faultsUsage(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "runbook-faults: "+format+"\n", args...)
	os.Exit(2)
}

// killAt kills the process at the nth hit of name. Hosts run in parallel,
// so hits are counted atomically: exactly one of them is the nth.
func killAt(name string, n int64) func(string) {
	var hits atomic.Int64
	return func(point string) {
		if point != name || hits.Add(1) != n {
			return
		}
		// Unbuffered: the line is in the pipe before the signal.
		fmt.Fprintf(os.Stderr, "runbook-faults: SIGKILL at %s (hit %d)\n", name, n)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		// SIGKILL cannot be caught; this goroutine must not go on while
		// the kernel takes the process down.
		select {}
	}
}

// barrierAt holds every hit of name until the test opens the FIFO at path
// for writing: every process waiting in open(2) for reading is released by
// that one event, within microseconds of each other, which a polled file
// could not do. The ready file tells the test that this process waits.
func barrierAt(name, path string) func(string) {
	return func(point string) {
		if point != name {
			return
		}
		ready := fmt.Sprintf("%s.ready-%d", path, os.Getpid())
		if err := os.WriteFile(ready, nil, 0o600); err != nil {
			faultsUsage("barrier %s: %v", name, err)
		}
		f, err := os.OpenFile(path, os.O_RDONLY, 0)
		if err != nil {
			faultsUsage("barrier %s: %v", name, err)
		}
		f.Close()
	}
}

// logHits appends every hit to path. One write(2) of a short line to a
// file opened with O_APPEND is atomic, so parallel hosts do not tear it.
func logHits(path string) func(string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		faultsUsage("RUNBOOK_HITLOG: %v", err)
	}
	return func(point string) { _, _ = f.WriteString(point + "\n") }
}
