//go:build !linux

package remote

import (
	"errors"
	"os"
)

// openPTY is Linux's: elsewhere a local command cannot have a terminal,
// and a step with tty: true on a local host is refused when it runs.
func openPTY() (master, tty *os.File, err error) {
	return nil, nil, errors.New("a terminal for a local command needs Linux")
}
