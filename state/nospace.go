package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"github.com/runbook-dev/runbook/runbook"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// noSpace reports whether err says the file system of the database is
// full: SQLite's SQLITE_FULL (its unix VFS maps ENOSPC to it),
// SQLITE_IOERR_SHMSIZE (growing the WAL index found no room), or an
// ENOSPC from our own files (the directory, the lock file).
func noSpace(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_FULL || se.Code() == sqlite3.SQLITE_IOERR_SHMSIZE) {
		return true
	}
	return errors.Is(err, syscall.ENOSPC)
}

// explainNoSpace gives an error that found the state database's file
// system full what the operator can do about it. Nothing that was
// committed is lost: SQLite rolls the failed transaction back, and the
// next run carries on from the last commit.
func explainNoSpace(path string, err error) error {
	if err == nil || !noSpace(err) {
		return err
	}
	if abs, aerr := filepath.Abs(path); aerr == nil {
		path = abs
	}
	return runbook.WithHint(err, fmt.Sprintf("the file system of %s is full; what was recorded before is intact: free some space there, then run the command again (`runbook resume` continues a release)",
		filepath.Dir(path)))
}
