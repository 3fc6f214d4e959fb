package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// RunLog shows the output of the run under token on h as the host keeps
// it, through the executor's connection to h: what `runbook logs` reads
// of a run whose runbook died while the run went on. Without follow it
// copies what the run wrote so far; with follow, everything until the
// run ends, and then says how it ended (exit code, or done false when it
// ended without one). The output is raw: the caller masks it. An error
// wrapping fs.ErrNotExist when the host keeps no log of the run (a local
// run's output went to the process that started it).
func (e *Executor) RunLog(ctx context.Context, h *runbook.Host, token string, out io.Writer, follow bool) (code int, done bool, err error) {
	conn, err := e.conn(ctx, h)
	if err != nil {
		return -1, false, err
	}
	if !follow {
		return -1, false, conn.RunLog(ctx, token, out)
	}
	if _, local := conn.(*remote.Local); local {
		return -1, false, fmt.Errorf("a local run keeps no output log of its own: %w", fs.ErrNotExist)
	}
	code, err = conn.Wait(ctx, token, out)
	if errors.Is(err, remote.ErrInDoubt) {
		return -1, false, nil // it ended, and left no exit code
	}
	return code, err == nil, err
}
