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
	"github.com/runbook-dev/runbook/state/postgres"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/spf13/cobra"
)

// load reads and validates the runbook file. Credentials written in it
// in plain text are masked from then on, like vault secrets: whatever
// command loaded it may print host output or errors that carry them.
func (g *globals) load() (*runbook.Runbook, error) {
	if g.isMissing() {
		return nil, g.missingFile()
	}
	rb, err := runbook.Load(g.file)
	if err != nil {
		return nil, err
	}
	g.masker.Add(rb.InlineSecrets()...)
	return rb, nil
}

// statePath is the SQLite state database of a runbook (statestore.go
// says when the record is a PostgreSQL database instead).
func (g *globals) statePath(rb *runbook.Runbook) string {
	if g.state != "" && !isStateURL(g.state) {
		return g.state
	}
	return filepath.Join(g.runbookDir(rb), ".runbook", "state.db")
}

// runbookDir is the directory of the runbook file.
func (g *globals) runbookDir(rb *runbook.Runbook) string {
	if rb != nil {
		return rb.Dir
	}
	if abs, err := filepath.Abs(g.file); err == nil {
		return filepath.Dir(abs)
	}
	return "."
}

// workDir is the .runbook directory that holds the database, logs and
// markers; with a PostgreSQL record, the logs and markers stay in
// .runbook beside the runbook file.
func (g *globals) workDir(rb *runbook.Runbook) string {
	if g.stateURL(rb) != "" {
		return filepath.Join(g.runbookDir(rb), ".runbook")
	}
	return filepath.Dir(g.statePath(rb))
}

// operator is who is at the keyboard: --operator, else RUNBOOK_OPERATOR,
// else the OS user. It is recorded on every transition, sign-off and
// note, with the OS user beside it (osUser): on a shared build account
// the OS user names nobody.
func (g *globals) operator() string {
	if g.operatorName != "" {
		return g.operatorName
	}
	return osUser()
}

// checkOperator reads --operator or RUNBOOK_OPERATOR: a name that goes
// into every record, so one line of plain text.
func (g *globals) checkOperator() error {
	if g.operatorName == "" {
		g.operatorName = strings.TrimSpace(g.getenv("RUNBOOK_OPERATOR"))
	}
	g.operatorName = strings.TrimSpace(g.operatorName)
	return runbook.CheckText("--operator", g.operatorName)
}

// osUser is the OS account runbook runs as.
func osUser() string {
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
	store   runbook.Store
	unlock  func()
	masker  *secrets.Masker
	secrets *secrets.Resolver
	exec    *steps.Executor
	pool    *remote.Pool
	ui      *printer
	// preflight is the engine's Preflight (start and resume), else nil.
	preflight func(context.Context, bool, string) error
}

func (s *session) Close() {
	if s.ui != nil {
		s.ui.endBoard()
	}
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

// open loads the runbook, opens the store, takes the release lock and
// resolves every secret the runbook names.
func (g *globals) open(ctx context.Context, command, version string) (*session, error) {
	return g.openSession(ctx, command, version, false)
}

// openWalk is open for start and resume: the secrets are resolved by the
// engine's Preflight (walkPreflight), which lists a missing secret with
// every other problem found before the first step.
func (g *globals) openWalk(ctx context.Context, command, version string, signoffs map[string]string) (*session, error) {
	s, err := g.openSession(ctx, command, version, true)
	if err != nil {
		return nil, err
	}
	s.preflight = g.walkPreflight(s, version, signoffs)
	return s, nil
}

func (g *globals) openSession(ctx context.Context, command, version string, deferSecrets bool) (*session, error) {
	rb, err := g.load()
	if err != nil {
		return nil, err
	}
	st, err := g.openStore(ctx, rb)
	if err != nil {
		return nil, err
	}
	s := &session{rb: rb, store: st, masker: g.masker}
	s.secrets = secrets.NewResolver(func() (*secrets.Vault, error) { return g.openVault(rb) }, g.masker)
	h := runbook.Holder{User: osUser(), Machine: machine(), PID: os.Getpid(), Version: version, Command: command}
	unlock, recovered, err := st.Lock(h)
	if err != nil {
		st.Close()
		return nil, lockError(err)
	}
	s.unlock = unlock
	s.ui = newPrinter(&g.gate, g.stdout, g.stderr, s.masker)
	if recovered != nil {
		noteTakeover(ctx, s, g.operator(), recovered)
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
	if deferSecrets {
		return s, nil
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
		Store:         s.store,
		Exec:          s.exec,
		Differ:        s.exec,
		Staged:        s.exec,
		Warm:          s.exec,
		UI:            s.ui,
		Masker:        s.masker,
		Secrets:       s.secrets,
		Hooks:         s.exec,
		Ask:           g.interaction(),
		Operator:      g.operator(),
		OSUser:        osUser(),
		Machine:       machine(),
		Locker:        s.exec,
		StateLocation: g.stateLocation(s.rb),
		LogDir:        filepath.Join(g.workDir(s.rb), "logs"),
		Signoffs:      signoffs,
		AcceptDiff:    acceptDiff,
		SameArtifact:  same,
		Preflight:     s.preflight,
	})
}

// needTerminal refuses to walk without a terminal unless --yes was given.
func (g *globals) needTerminal(cmd string) error {
	if g.interactive || g.yes {
		return nil
	}
	why := "stdin is not a terminal"
	if isTerminal(g.stdin) {
		why = "there is no terminal to ask on"
	}
	return runbook.WithHint(usagef("%s asks the operator before each step, and %s", cmd, why),
		"run it in a terminal (its output may go through a pipe: | tee night.log), or pass --yes to take the default at every prompt (sign-offs with --signoff ROLE=NAME)")
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
	if _, shared := s.store.(*postgres.Store); shared {
		// PostgreSQL freed the lock with its holder's connection.
		why = "whose connection to the state database ended"
	} else if old.Machine != machine() {
		why, note = "as --take-over-lock asked (this machine cannot check that process)", "lock taken over (--take-over-lock) from holder"
	}
	s.ui.Warn(fmt.Sprintf("took over the lock of %s on %s (pid %d, %s), %s", old.User, old.Machine, old.PID, what, why))
	if un, _ := s.store.Unfinished(ctx); un != nil {
		_ = s.store.AddNote(ctx, &runbook.Note{ReleaseID: un.ID, Kind: "lock", Operator: user, OSUser: osUser(),
			Text: fmt.Sprintf("%s %s@%s pid %d (%s, since %s)", note, old.User, old.Machine, old.PID, what, old.Since.Format("2006-01-02T15:04:05Z"))})
	}
}
