package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"golang.org/x/sys/unix"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// The DSN parameters. busy_timeout comes first (the driver applies it
// first anyway) so that switching a fresh file to WAL waits for a
// concurrent opener instead of failing. _txlock=immediate makes every
// write transaction take the write lock at BEGIN: a deferred transaction
// that reads and then writes can fail with SQLITE_BUSY mid-way, which
// busy_timeout cannot retry.
const (
	writerParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	readerParams = "mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)"
	maxReaders   = 4
)

// Open opens (creating it and its directory when missing) the state
// database at path for reading and writing, brings its schema up to date,
// and checks that it is durable: WAL journal, synchronous=FULL, foreign keys
// on.
func Open(path string) (*Store, error) {
	// Two processes opening a new database at once race to switch it to
	// WAL; SQLite answers the loser SQLITE_BUSY at once, without its busy
	// handler. The loser simply tries again (the release lock, not this,
	// decides who runs).
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := open(path)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return s, explain(path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isBusy(err error) bool {
	m := err.Error()
	return strings.Contains(m, "SQLITE_BUSY") || strings.Contains(m, "database is locked")
}

func open(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve state database path %q: %w", path, err)
	}
	if err := prepare(abs); err != nil {
		return nil, err
	}
	ctx := context.Background()

	w, err := sql.Open("sqlite", dsn(abs, writerParams))
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", abs, err)
	}
	// One connection: SQLite has one writer anyway, and a second
	// connection of our own would only wait on busy_timeout behind the first.
	w.SetMaxOpenConns(1)
	s := &Store{Now: time.Now, path: abs, w: w}
	if err := s.checkDurable(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := migrate(ctx, w, abs); err != nil {
		w.Close()
		return nil, err
	}
	if s.hot, err = prepareHot(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("state database %s: %w", abs, err)
	}
	// The readers open after the migration so that they never see a file
	// without a schema.
	if s.r, err = openReaders(abs, false); err != nil {
		_ = s.hot.close()
		w.Close()
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// prepare creates the state directory and the database file, and makes
// sure that this process may write both: what SQLite says otherwise
// ("unable to open database file") names neither.
//
// SQLite would create the database 0644 less the umask, and it gives the
// -wal and -shm files the database's mode: created 0600 here first, all
// three stay private whatever the umask. To SQLite an empty file is an
// empty database. An existing file keeps the mode it has.
func prepare(abs string) error {
	dir := filepath.Dir(abs)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return explain(abs, fmt.Errorf("create the state directory: %w", err))
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return explain(abs, fmt.Errorf("state database %s cannot be written: %w", abs, unwrapPath(err)))
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return fmt.Errorf("state database %s: %w", abs, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("state database %s is not a regular file (%v)", abs, fi.Mode().Type())
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return explain(abs, fmt.Errorf("state database %s cannot be written: %w on its directory %s", abs, err, dir))
	}
	return nil
}

// unwrapPath drops the "open PATH:" of an *fs.PathError whose path the
// message names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// check runs PRAGMA quick_check, so that a damaged database is refused
// before a release walks on it rather than found broken halfway (SQLite
// reads only the pages a query needs, and a broken page can sit unread
// for a whole release).
func (s *Store) check(ctx context.Context) error {
	res, err := s.QuickCheck(ctx)
	if err != nil {
		return explain(s.path, err)
	}
	if res != "ok" {
		return runbook.WithHint(&damagedError{path: s.path, finding: firstFinding(res)}, damagedHint(s.path))
	}
	return nil
}

// firstFinding is the first line of a quick_check report that says what
// is wrong, past the "*** in database main ***" that heads it.
func firstFinding(report string) string {
	for line := range strings.Lines(report) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "*** ") {
			return line
		}
	}
	return strings.TrimSpace(report)
}

// OpenReadOnly opens an existing state database for status and report. It
// creates nothing: when there is no database the error wraps
// runbook.ErrNotFound.
func OpenReadOnly(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve state database path %q: %w", path, err)
	}
	if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		return nil, &notFoundError{fmt.Sprintf("no state database at %s: no release has run here yet", abs)}
	} else if err != nil {
		return nil, fmt.Errorf("look for the state database: %w", err)
	}
	if err := unix.Access(abs, unix.R_OK); err != nil {
		return nil, runbook.WithHint(fmt.Errorf("state database %s cannot be read: %w", abs, err),
			"make it readable for you, or give --state the path of a copy you can read")
	}
	r, err := openReaders(abs, readOnlyMedium(abs))
	if err != nil {
		return nil, err
	}
	s := &Store{Now: time.Now, path: abs, r: r}
	if err := s.checkReadable(context.Background()); err != nil {
		r.Close()
		// Even a reader needs room: the WAL index (-shm) it maps must
		// have its full size.
		return nil, explain(abs, err)
	}
	return s, nil
}

// openReaders opens the read-only pool. immutable tells SQLite that
// nothing can change the file: it then needs no WAL index (-shm), which a
// read-only file system cannot hold.
func openReaders(abs string, immutable bool) (*sql.DB, error) {
	params := readerParams
	if immutable {
		params += "&immutable=1"
	}
	r, err := sql.Open("sqlite", dsn(abs, params))
	if err != nil {
		return nil, fmt.Errorf("open state database %s for reading: %w", abs, err)
	}
	r.SetMaxOpenConns(maxReaders)
	return r, nil
}

// readOnlyMedium reports whether the database at abs sits on a read-only
// file system with nothing in its WAL: no process can change it, so it
// may be read as immutable (status of an archived state directory). A
// non-empty WAL holds commits the file does not, which immutable would
// ignore: then SQLite is left to refuse, and explain says what to do.
func readOnlyMedium(abs string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(abs), &st); err != nil || st.Flags&unix.ST_RDONLY == 0 {
		return false
	}
	fi, err := os.Stat(abs + "-wal")
	return errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0)
}

// dsn builds a SQLite URI. The characters that end or escape the path part
// of a URI are percent-encoded, so any file name works.
func dsn(abs, params string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(abs)
	return "file:" + esc + "?" + params
}

// checkDurable reads the pragmas back: the driver applies DSN pragmas
// silently, and a file system without shared memory (some network mounts)
// leaves the journal in another mode.
func (s *Store) checkDurable(ctx context.Context) error {
	p, err := s.Pragmas(ctx)
	if err != nil {
		return err
	}
	if p["journal_mode"] != "wal" {
		return fmt.Errorf("state database %s is in journal mode %q, not wal: put it on a local file system (--state)", s.path, p["journal_mode"])
	}
	if p["synchronous"] != "2" {
		return fmt.Errorf("state database %s has synchronous=%s, not 2 (FULL): commits would not survive a power loss", s.path, p["synchronous"])
	}
	if p["foreign_keys"] != "1" {
		return fmt.Errorf("state database %s has foreign_keys=%s, not 1: this sqlite build ignores foreign keys", s.path, p["foreign_keys"])
	}
	return nil
}

// checkReadable makes sure a database opened read-only has the schema this
// build reads.
func (s *Store) checkReadable(ctx context.Context) error {
	var v int
	if err := s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read state database %s: %w", s.path, err)
	}
	switch {
	case v == 0:
		return &notFoundError{fmt.Sprintf("state database %s is empty: no release has run here yet", s.path)}
	case v < schemaVersion:
		return fmt.Errorf("state database %s has schema version %d, older than %d: run runbook start or resume once to upgrade it", s.path, v, schemaVersion)
	}
	return checkVersion(s.path, v)
}

// Pragmas returns the settings that make the database durable, as SQLite
// reports them: journal_mode, synchronous, foreign_keys, busy_timeout and
// user_version. They come from the writer connection when there is one.
func (s *Store) Pragmas(ctx context.Context) (map[string]string, error) {
	db := s.w
	if db == nil {
		db = s.r
	}
	p := make(map[string]string)
	for _, name := range []string{"journal_mode", "synchronous", "foreign_keys", "busy_timeout", "user_version"} {
		var v string
		if err := db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			return nil, fmt.Errorf("read pragma %s of state database %s: %w", name, s.path, err)
		}
		p[name] = v
	}
	return p, nil
}

// QuickCheck runs PRAGMA quick_check and returns its findings, one a line:
// "ok" when the database is sound.
func (s *Store) QuickCheck(ctx context.Context) (string, error) {
	rows, err := s.r.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return "", fmt.Errorf("check state database %s: %w", s.path, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", fmt.Errorf("check state database %s: %w", s.path, err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("check state database %s: %w", s.path, err)
	}
	return strings.Join(lines, "\n"), nil
}

// notFoundError is a missing or empty database: errors.Is(err,
// runbook.ErrNotFound) holds, and the message reads without a trailing
// ": not found".
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return runbook.ErrNotFound }
