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
	// The first Ctrl-C cancels ctx: the walk records "paused" and exits 130.
	// stop() restores the default so a second Ctrl-C ends at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
