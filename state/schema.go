package state

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations holds the schema, one entry per version: migrations[0] brings
// an empty database to user_version 1. Later versions append; an entry is
// never edited once released, since databases in the field already ran it.
var migrations = []string{
	// Version 1.
	`
CREATE TABLE releases (
	id              INTEGER PRIMARY KEY,
	version         TEXT NOT NULL,
	kind            TEXT NOT NULL CHECK (kind IN ('release', 'rollback')),
	state           TEXT NOT NULL CHECK (state <> ''),
	operator        TEXT NOT NULL DEFAULT '',
	machine         TEXT NOT NULL DEFAULT '',
	started_at      TEXT,
	finished_at     TEXT,
	runbook_name    TEXT NOT NULL DEFAULT '',
	runbook_file    TEXT NOT NULL DEFAULT '',
	runbook_hash    TEXT NOT NULL DEFAULT '',
	artifact_path   TEXT NOT NULL DEFAULT '',
	artifact_sha256 TEXT NOT NULL DEFAULT '',
	envs            TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX releases_state ON releases (state);

CREATE TABLE step_runs (
	id          INTEGER PRIMARY KEY,
	release_id  INTEGER NOT NULL REFERENCES releases (id),
	idx         INTEGER NOT NULL,
	name        TEXT NOT NULL,
	kind        TEXT NOT NULL DEFAULT '',
	env         TEXT NOT NULL DEFAULT '',
	state       TEXT NOT NULL CHECK (state <> ''),
	attempts    INTEGER NOT NULL DEFAULT 0,
	started_at  TEXT,
	finished_at TEXT,
	reason      TEXT NOT NULL DEFAULT '',
	UNIQUE (release_id, idx)
);

CREATE TABLE host_runs (
	id          INTEGER PRIMARY KEY,
	step_run_id INTEGER NOT NULL REFERENCES step_runs (id),
	host        TEXT NOT NULL,
	state       TEXT NOT NULL CHECK (state <> ''),
	attempts    INTEGER NOT NULL DEFAULT 0,
	exit_code   INTEGER NOT NULL DEFAULT -1,
	token       TEXT NOT NULL DEFAULT '',
	started_at  TEXT,
	finished_at TEXT,
	duration_ms INTEGER NOT NULL DEFAULT 0,
	output_tail TEXT NOT NULL DEFAULT '',
	detail      TEXT NOT NULL DEFAULT '',
	UNIQUE (step_run_id, host)
);

CREATE TABLE transitions (
	id          INTEGER PRIMARY KEY,
	at          TEXT NOT NULL,
	release_id  INTEGER NOT NULL REFERENCES releases (id),
	step_run_id INTEGER REFERENCES step_runs (id),
	host_run_id INTEGER REFERENCES host_runs (id),
	scope       TEXT NOT NULL,
	from_state  TEXT NOT NULL DEFAULT '',
	to_state    TEXT NOT NULL,
	event       TEXT NOT NULL DEFAULT '',
	operator    TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX transitions_release ON transitions (release_id, id);

CREATE TABLE signoffs (
	id         INTEGER PRIMARY KEY,
	release_id INTEGER NOT NULL REFERENCES releases (id),
	step       TEXT NOT NULL,
	role       TEXT NOT NULL,
	name       TEXT NOT NULL,
	os_user    TEXT NOT NULL DEFAULT '',
	at         TEXT NOT NULL,
	via        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX signoffs_release ON signoffs (release_id, id);

CREATE TABLE notes (
	id         INTEGER PRIMARY KEY,
	release_id INTEGER NOT NULL REFERENCES releases (id),
	at         TEXT NOT NULL,
	kind       TEXT NOT NULL,
	step       TEXT NOT NULL DEFAULT '',
	host       TEXT NOT NULL DEFAULT '',
	text       TEXT NOT NULL,
	operator   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notes_release ON notes (release_id, id);

CREATE TABLE live (
	env        TEXT NOT NULL,
	host       TEXT NOT NULL,
	version    TEXT NOT NULL,
	previous   TEXT NOT NULL DEFAULT '',
	release_id INTEGER REFERENCES releases (id),
	at         TEXT NOT NULL,
	PRIMARY KEY (env, host)
);

CREATE TABLE staged (
	id         INTEGER PRIMARY KEY,
	env        TEXT NOT NULL,
	host       TEXT NOT NULL,
	version    TEXT NOT NULL,
	sha256     TEXT NOT NULL DEFAULT '',
	release_id INTEGER REFERENCES releases (id),
	at         TEXT NOT NULL,
	removed    INTEGER NOT NULL DEFAULT 0,
	UNIQUE (env, host, version)
);

CREATE TABLE lock_holder (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	user    TEXT NOT NULL,
	machine TEXT NOT NULL,
	pid     INTEGER NOT NULL,
	version TEXT NOT NULL DEFAULT '',
	command TEXT NOT NULL DEFAULT '',
	since   TEXT NOT NULL
);

CREATE TABLE operations (
	id          INTEGER PRIMARY KEY,
	env         TEXT NOT NULL,
	host        TEXT NOT NULL,
	name        TEXT NOT NULL,
	command     TEXT NOT NULL DEFAULT '',
	exit_code   INTEGER NOT NULL,
	started_at  TEXT,
	finished_at TEXT,
	operator    TEXT NOT NULL DEFAULT '',
	output_tail TEXT NOT NULL DEFAULT ''
);
`,
	// Version 2: what names a lock holder beyond its pid, which the kernel
	// reuses and a copied file carries along (see lock.go): its machine's
	// boot, its process's start time, and the database it locked, by id
	// and by path. The id is drawn once, here, and travels with every copy
	// of the file.
	`
ALTER TABLE lock_holder ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';
ALTER TABLE lock_holder ADD COLUMN started INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lock_holder ADD COLUMN db_id TEXT NOT NULL DEFAULT '';
ALTER TABLE lock_holder ADD COLUMN db_path TEXT NOT NULL DEFAULT '';

CREATE TABLE store_identity (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	db_id TEXT NOT NULL
);
INSERT INTO store_identity (id, db_id) VALUES (1, lower(hex(randomblob(16))));
`,
	// Version 3: what is live is said only from what was verified.
	`
ALTER TABLE live ADD COLUMN verified_at TEXT;
`,
	// Version 4, operator and OS user: who was at the keyboard
	// (--operator, RUNBOOK_OPERATOR) is recorded as the operator, and the
	// OS account runbook ran as beside it, on every record that names
	// either. Until now the operator was the OS user, which the existing
	// rows are given.
	`
ALTER TABLE releases ADD COLUMN os_user TEXT NOT NULL DEFAULT '';
ALTER TABLE transitions ADD COLUMN os_user TEXT NOT NULL DEFAULT '';
ALTER TABLE notes ADD COLUMN os_user TEXT NOT NULL DEFAULT '';
ALTER TABLE operations ADD COLUMN os_user TEXT NOT NULL DEFAULT '';
ALTER TABLE signoffs ADD COLUMN operator TEXT NOT NULL DEFAULT '';
UPDATE releases SET os_user = operator;
UPDATE transitions SET os_user = operator;
UPDATE notes SET os_user = operator;
UPDATE operations SET os_user = operator;
UPDATE signoffs SET operator = os_user;
`,
	// Version 5: teams. Each transition names the machine that committed
	// it and carries its link in the audit chain (runbook/audit.go; the
	// rows already there are chained by chainExisting, in commit order);
	// a deliberate lock of the releases (runbook lock).
	`
ALTER TABLE transitions ADD COLUMN machine TEXT NOT NULL DEFAULT '';
ALTER TABLE transitions ADD COLUMN hash TEXT NOT NULL DEFAULT '';

CREATE TABLE deploy_lock (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	message  TEXT NOT NULL,
	operator TEXT NOT NULL DEFAULT '',
	machine  TEXT NOT NULL DEFAULT '',
	at       TEXT NOT NULL
);
`,
	// Version 6: the artifact's size beside its checksum, so that a new
	// release can tell, before it has hashed its artifact, that no
	// earlier one shipped the same bytes. Releases recorded before keep
	// 0, unknown.
	`
ALTER TABLE releases ADD COLUMN artifact_size INTEGER NOT NULL DEFAULT 0;
`,
}

// afterMigration holds what a migration does beyond its SQL, by the
// version it brings the database to.
var afterMigration = map[int]func(ctx context.Context, tx *sql.Tx) error{
	5: chainExisting,
}

// schemaVersion is the user_version this build of runbook writes.
var schemaVersion = len(migrations)

// migrate brings the database to schemaVersion in one transaction. The
// transaction begins IMMEDIATE, so two processes opening a fresh database
// at once take turns, and the second one finds the work done.
func migrate(ctx context.Context, db *sql.DB, path string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin schema migration of %s: %w", path, err)
	}
	defer tx.Rollback() // a no-op after Commit

	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version of %s: %w", path, err)
	}
	if err := checkVersion(path, v); err != nil {
		return err
	}
	if v == schemaVersion {
		return nil
	}
	for i := v; i < schemaVersion; i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate %s to schema version %d: %w", path, i+1, err)
		}
		if after := afterMigration[i+1]; after != nil {
			if err := after(ctx, tx); err != nil {
				return fmt.Errorf("migrate %s to schema version %d: %w", path, i+1, err)
			}
		}
	}
	// PRAGMA takes no bound parameters; schemaVersion is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("set schema version of %s: %w", path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit schema migration of %s: %w", path, err)
	}
	return nil
}

// checkVersion refuses a database written by a newer runbook: an older
// binary would not know what the newer columns mean.
func checkVersion(path string, v int) error {
	if v > schemaVersion {
		return fmt.Errorf("state database %s has schema version %d but this runbook knows only up to %d: upgrade runbook", path, v, schemaVersion)
	}
	return nil
}
