package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/state"
	"github.com/runbook-dev/runbook/state/postgres"
)

// Where the record of releases is (docs/SPEC.md "Teams"): --state or
// RUNBOOK_STATE (a path or a PostgreSQL URL), else the runbook file's
// state: key, else .runbook/state.db beside the runbook file.

// isStateURL tells a PostgreSQL URL from a path of a SQLite database.
func isStateURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// stateURL returns the PostgreSQL URL in force, "" when the record is a
// SQLite file.
func (g *globals) stateURL(rb *runbook.Runbook) string {
	switch {
	case isStateURL(g.state):
		return g.state
	case g.state != "":
		return ""
	case rb != nil:
		return rb.State
	}
	return ""
}

// stateLocation names the record for messages and for the owner file of
// an environment lock: the SQLite file's path, or the URL without its
// password.
func (g *globals) stateLocation(rb *runbook.Runbook) string {
	if u := g.stateURL(rb); u != "" {
		return postgres.Redact(u)
	}
	if abs, err := filepath.Abs(g.statePath(rb)); err == nil {
		return abs
	}
	return g.statePath(rb)
}

// statePassword resolves state_password: secret:NAME from the vault; ""
// leaves the password to the URL's user, PGPASSWORD or ~/.pgpass.
func (g *globals) statePassword(rb *runbook.Runbook) (string, error) {
	if rb == nil || rb.StatePassword == "" {
		return "", nil
	}
	name, _ := runbook.ParseSecretRef(rb.StatePassword)
	pw, err := secrets.NewResolver(func() (*secrets.Vault, error) { return g.openVault(rb) }, g.masker).Secret(name)
	if err != nil {
		return "", fmt.Errorf("state_password: %w", err)
	}
	return pw, nil
}

// openStore opens the record for a command that writes it, creating it
// (and its schema) when missing.
func (g *globals) openStore(ctx context.Context, rb *runbook.Runbook) (runbook.Store, error) {
	if u := g.stateURL(rb); u != "" {
		pw, err := g.statePassword(rb)
		if err != nil {
			return nil, err
		}
		// The postgres package's errors name the database and say what to do.
		return postgres.Open(ctx, u, postgres.Options{Password: pw})
	}
	st, err := state.Open(g.statePath(rb))
	if err != nil {
		return nil, err
	}
	st.TakeOverOtherMachine = g.takeOverLock
	return st, nil
}

// openReadStore opens an existing record read-only for a command that
// only looks: it never blocks a running release and creates nothing.
// With no record yet the error wraps runbook.ErrNothingToDo.
func (g *globals) openReadStore(ctx context.Context, rb *runbook.Runbook) (runbook.Store, error) {
	nothing := func(where string) error {
		return runbook.WithHint(runbook.NothingToDo("nothing recorded yet", "no release has run here ("+where+")"),
			"`runbook start --version V` starts the first release")
	}
	if u := g.stateURL(rb); u != "" {
		pw, err := g.statePassword(rb)
		if err != nil {
			return nil, err
		}
		st, err := postgres.Open(ctx, u, postgres.Options{Password: pw, ReadOnly: true})
		if errors.Is(err, runbook.ErrNotFound) {
			return nil, nothing("the state database " + postgres.Redact(u) + " is empty")
		}
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	path := g.statePath(rb)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nothing("no state database at " + path)
	}
	// The state package's errors name the database and say what to do.
	st, err := state.OpenReadOnly(path)
	if err != nil {
		return nil, err
	}
	return st, nil
}
