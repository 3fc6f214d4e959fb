// Command runbook walks a release night step by step. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/runbook-dev/runbook/runbook/cli"
	"golang.org/x/sys/unix"
)

func main() {
	harden()
	// The first Ctrl-C or SIGTERM cancels ctx: the walk records "paused"
	// and exits 130. A second one ends at once, and a command still
	// blocked after a grace period ends anyway (cli.WatchSignals).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cli.WatchSignals(ctx, stop, os.Stdin, os.Stderr)
	os.Exit(cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// harden keeps the secrets this process holds in memory (the vault
// passphrase, every decrypted secret) out of core files and out of reach of
// other processes of the same user:
//   - RLIMIT_CORE 0, soft and hard: no core file, whatever `ulimit -c` said;
//   - not dumpable: no core either when core_pattern pipes to a collector
//     (which ignores the limit), and /proc/PID/environ, mem and maps belong
//     to root, and ptrace by the same user is refused.
//
// Both are kept across fork. At exec the kernel makes a program dumpable
// again, so the commands runbook starts are not affected by the second;
// they inherit the limit (no core files from local steps). A failure
// leaves the process as it was before: it is no reason not to run.
func harden() {
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0})
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
