package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/runbook-dev/runbook/runbook"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// explain gives an error from the state database what the operator can do
// about it: a full disk (nospace.go), a damaged file, a file or directory
// that cannot be written. Other errors, and errors that already carry a
// hint, are returned as they are.
func explain(path string, err error) error {
	var he *runbook.HintError
	if err == nil || errors.As(err, &he) {
		return err
	}
	if abs, aerr := filepath.Abs(path); aerr == nil {
		path = abs
	}
	switch {
	case noSpace(err):
		return explainNoSpace(path, err)
	case damaged(err):
		return runbook.WithHint(&damagedError{path: path, err: err}, damagedHint(path))
	case readOnly(err):
		return runbook.WithHint(err, readOnlyHint(path))
	case sqliteCode(err) == sqlite3.SQLITE_CANTOPEN:
		return runbook.WithHint(err, fmt.Sprintf("SQLite needs to read %s and to create its -wal and -shm files beside it: "+
			"check both are allowed for you, or copy the state directory to a writable disk and give --state the copy", path))
	}
	return err
}

// damaged reports whether SQLite found the file not to be a database, or a
// database whose structure is broken.
func damaged(err error) bool {
	code := sqliteCode(err)
	return code == sqlite3.SQLITE_CORRUPT || code == sqlite3.SQLITE_NOTADB
}

// readOnly reports whether err is a refusal to write: SQLite's
// SQLITE_READONLY (it opened a file it may not write read-only) or a
// permission or read-only file system error from the system.
func readOnly(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_READONLY ||
		errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EROFS)
}

// damagedHint says how to get a sound record back. The -wal beside a
// database belongs to it alone: left there, SQLite would replay it into
// the backup put in the database's place.
func damagedHint(path string) string {
	return fmt.Sprintf("move %s and its -wal and -shm files aside, then restore your backup of it there "+
		"(`sqlite3 FILE .recover` salvages what it can; --state NEW starts an empty record)", path)
}

func readOnlyHint(path string) string {
	return fmt.Sprintf("runbook records every step in %s and writes its -wal, -shm and .lock files beside it: make it and %s writable for you, or give --state a path on a writable disk",
		path, filepath.Dir(path))
}

// damagedError is a state database that SQLite cannot use: not a
// database at all, or one whose structure is broken. It unwraps to what
// SQLite said.
type damagedError struct {
	path    string
	finding string // what PRAGMA quick_check found; "" when SQLite's error says it
	err     error
}

func (e *damagedError) Error() string {
	switch {
	case e.finding != "":
		return fmt.Sprintf("state database %s is damaged (quick_check: %s)", e.path, e.finding)
	case sqliteCode(e.err) == sqlite3.SQLITE_NOTADB:
		return fmt.Sprintf("state database %s is not a SQLite database (damaged, truncated or overwritten)", e.path)
	}
	// SQLite's own words, without their number; the query that met them
	// does not matter.
	var se *sqlite.Error
	if errors.As(e.err, &se) {
		return fmt.Sprintf("state database %s is damaged: %s", e.path, strings.TrimSuffix(se.Error(), fmt.Sprintf(" (%d)", se.Code())))
	}
	return fmt.Sprintf("state database %s is damaged: %v", e.path, e.err)
}

func (e *damagedError) Unwrap() error { return e.err }

// sqliteCode is the primary result code of a SQLite error, 0 for other
// errors.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}
