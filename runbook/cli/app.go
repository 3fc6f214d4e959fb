package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/state"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/spf13/cobra"
)

// load reads and validates the runbook file. Credentials written in it
// in plain text are masked from then on, like vault secrets: whatever
// command loaded it may print host output or errors that carry them.
func (g *globals) load() (*runbook.Runbook, error) {
	rb, err := runbook.Load(g.file)
	if err != nil {
		return nil, err
	}
	g.masker.Add(rb.InlineSecrets()...)
	return rb, nil
}

// statePath is the state database of a runbook.
func (g *globals) statePath(rb *runbook.Runbook) string {
	if g.state != "" {
		return g.state
	}
	dir := "."
	if rb != nil {
		dir = rb.Dir
	} else if abs, err := filepath.Abs(g.file); err == nil {
		dir = filepath.Dir(abs)
	}
	return filepath.Join(dir, ".runbook", "state.db")
}

// workDir is the .runbook directory that holds the database, logs and markers.
func (g *globals) workDir(rb *runbook.Runbook) string {
	return filepath.Dir(g.statePath(rb))
}

func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return fmt.Sprintf("uid%d", os.Getuid())
}

func machine() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// session is what a command that walks a release holds: the runbook, the
// store, the lock and the ports of the walker.
type session struct {
	rb      *runbook.Runbook
	store   *state.Store
	unlock  func()
	masker  *secrets.Masker
	secrets *secrets.Resolver
	exec    *steps.Executor
	pool    *remote.Pool
	ui      *printer
}

func (s *session) Close() {
	if s.exec != nil {
		_ = s.exec.Close()
	}
	if s.unlock != nil {
		s.unlock()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
}

// open loads the runbook, opens the store and takes the release lock.
func (g *globals) open(ctx context.Context, command, version string) (*session, error) {
	rb, err := g.load()
	if err != nil {
		return nil, err
	}
	// The state package's errors name the database and say what to do.
	st, err := state.Open(g.statePath(rb))
	if err != nil {
		return nil, err
	}
	st.TakeOverOtherMachine = g.takeOverLock
	s := &session{rb: rb, store: st, masker: g.masker}
	s.secrets = secrets.NewResolver(func() (*secrets.Vault, error) { return g.openVault(rb) }, g.masker)
	h := runbook.Holder{User: operator(), Machine: machine(), PID: os.Getpid(), Version: version, Command: command}
	unlock, recovered, err := st.Lock(h)
	if err != nil {
		st.Close()
		return nil, lockError(err)
	}
	s.unlock = unlock
	s.ui = newPrinter(&g.gate, g.stdout, g.stderr, s.masker)
	if recovered != nil {
		noteTakeover(ctx, s, h.User, recovered)
	}
	s.pool = remote.NewPool(remote.PoolOptions{
		KnownHosts:        rb.KnownHosts,
		AcceptNewHostKeys: g.acceptNew,
		AskHostKey:        g.askHostKey(),
	})
	s.exec = &steps.Executor{
		RB:        rb,
		Dialer:    s.pool,
		MarkerDir: filepath.Join(g.workDir(rb), "runs"),
		Secret:    s.secrets.Secret,
		Closer:    s.pool,
	}
	if isTerminal(g.stdout) {
		s.exec.Progress = newUploadBars(g.stdout, s.ui).Start
	}
	if err := preloadSecrets(rb, s.secrets); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// engine builds the engine of a session. acceptDiff maps a diff step to
// the reason its differences are accepted (--accept-diff); same is
// --same-artifact.
func (g *globals) engine(s *session, signoffs, acceptDiff map[string]string, same bool) *engine.Engine {
	return engine.New(s.rb, engine.Config{
		Store:        s.store,
		Exec:         s.exec,
		Differ:       s.exec,
		Staged:       s.exec,
		Warm:         s.exec,
		UI:           s.ui,
		Masker:       s.masker,
		Secrets:      s.secrets,
		Ask:          g.interaction(),
		Operator:     operator(),
		Machine:      machine(),
		LogDir:       filepath.Join(g.workDir(s.rb), "logs"),
		Signoffs:     signoffs,
		AcceptDiff:   acceptDiff,
		SameArtifact: same,
	})
}

// needTerminal refuses to walk without a terminal unless --yes was given.
func (g *globals) needTerminal(cmd string) error {
	if g.interactive || g.yes {
		return nil
	}
	return runbook.WithHint(usagef("%s asks the operator before each step, and there is no terminal", cmd),
		"run it in a terminal, or pass --yes to take the default at every prompt (sign-offs with --signoff ROLE=NAME)")
}

// takeOverFlag adds --take-over-lock to a command that takes the release
// lock.
func (g *globals) takeOverFlag(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&g.takeOverLock, "take-over-lock", false,
		"take over the release lock of a runbook on another machine that no longer runs (check first: this machine cannot)")
}

// lockError gives a refused lock the hint that fits why.
func lockError(err error) error {
	var (
		cp *state.CopyInUseError
		om *state.OtherMachineError
		le *runbook.LockedError
	)
	switch {
	case errors.As(err, &cp):
		return runbook.WithHint(err, fmt.Sprintf("wait for pid %d to finish, or stop it, and use the original; "+
			"walked beside it, this copy would record the same release twice, differently", cp.Holder.PID))
	case errors.As(err, &om):
		h := om.Holder
		return runbook.WithHint(err, fmt.Sprintf("check on %s whether pid %d still runs runbook: if it does, let it finish there; "+
			"if it is gone for good, run this again with --take-over-lock", h.Machine, h.PID))
	case errors.As(err, &le):
		return err
	}
	return fmt.Errorf("lock the state database: %w", err)
}

// noteTakeover says, and records with the unfinished release, that the
// lock of a holder that is gone was taken over.
func noteTakeover(ctx context.Context, s *session, user string, old *runbook.Holder) {
	what := strings.TrimSpace(old.Command + " " + old.Version)
	why, note := "whose process is gone", "lock recovered from dead holder"
	if old.Machine != machine() {
		why, note = "as --take-over-lock asked (this machine cannot check that process)", "lock taken over (--take-over-lock) from holder"
	}
	s.ui.Warn(fmt.Sprintf("took over the lock of %s on %s (pid %d, %s), %s", old.User, old.Machine, old.PID, what, why))
	if un, _ := s.store.Unfinished(ctx); un != nil {
		_ = s.store.AddNote(ctx, &runbook.Note{ReleaseID: un.ID, Kind: "lock", Operator: user,
			Text: fmt.Sprintf("%s %s@%s pid %d (%s, since %s)", note, old.User, old.Machine, old.PID, what, old.Since.Format("2006-01-02T15:04:05Z"))})
	}
}
