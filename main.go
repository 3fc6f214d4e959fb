// Command runbook walks a release night step by step. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/runbook-dev/runbook/runbook/cli"
)

func main() {
	// The first Ctrl-C or SIGTERM cancels ctx: the walk records "paused"
	// and exits 130. A second one ends at once, and a command still
	// blocked after a grace period ends anyway (cli.WatchSignals).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cli.WatchSignals(ctx, stop, os.Stdin, os.Stderr)
	os.Exit(cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
