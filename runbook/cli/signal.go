package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// shutdownGrace is how long a command may take to stop after the first
// Ctrl-C or SIGTERM. Stopping a step takes up to the transports' 5 s kill
// grace (TERM, then KILL) and recording "paused" a moment more; whatever
// is still running after this waits on something no signal reaches.
const shutdownGrace = 10 * time.Second

// WatchSignals is main's signal watcher. The first signal cancels ctx
// (the walk records "paused" and the command returns 130); stop then
// restores the default, so a second signal ends the process at once. A
// command that does not return within shutdownGrace is blocked where ctx
// cannot reach — a read of a pipe, a terminal, a hung file system — and
// the process ends anyway, with the terminal's mode restored: a
// supervisor's SIGTERM (timeout, systemd) must end runbook, not be
// swallowed by a blocked read (L-1). What was interrupted is settled by
// the next resume, as after any crash.
//
// It reads the terminal's mode before it returns, so call it before
// anything can prompt: a prompt puts the terminal in raw mode.
func WatchSignals(ctx context.Context, stop func(), stdin *os.File, stderr io.Writer) {
	fd := int(stdin.Fd())
	saved, _ := term.GetState(fd) // nil when stdin is not a terminal
	go func() {
		<-ctx.Done()
		stop()
		time.Sleep(shutdownGrace)
		if saved != nil {
			_ = term.Restore(fd, saved)
		}
		fmt.Fprintf(stderr, "runbook: error: interrupted, and still blocked %s later (waiting for input no signal reaches): stopped\n", shutdownGrace)
		fmt.Fprintf(stderr, "runbook: hint: `runbook status` shows where the release stands; `runbook resume` settles what was interrupted\n")
		os.Exit(ExitInterrupted)
	}()
}
