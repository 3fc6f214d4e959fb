package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/state"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/remote"
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
	st, err := state.Open(g.statePath(rb))
	if err != nil {
		return nil, fmt.Errorf("open the state database: %w", err)
	}
	s := &session{rb: rb, store: st, masker: g.masker}
	s.secrets = secrets.NewResolver(func() (*secrets.Vault, error) { return g.openVault(rb) }, g.masker)
	h := runbook.Holder{User: operator(), Machine: machine(), PID: os.Getpid(), Version: version, Command: command}
	unlock, recovered, err := st.Lock(h)
	if err != nil {
		st.Close()
		var le *runbook.LockedError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, fmt.Errorf("lock the state database: %w", err)
	}
	s.unlock = unlock
	s.ui = newPrinter(g.stdout, g.stderr, s.masker)
	if recovered != nil {
		s.ui.Warn(fmt.Sprintf("took over the lock of %s on %s (pid %d, %s %s), whose process is gone",
			recovered.User, recovered.Machine, recovered.PID, recovered.Command, recovered.Version))
		if un, _ := st.Unfinished(ctx); un != nil {
			_ = st.AddNote(ctx, &runbook.Note{ReleaseID: un.ID, Kind: "lock", Operator: h.User,
				Text: fmt.Sprintf("lock recovered from dead holder %s@%s pid %d (%s %s, since %s)", recovered.User, recovered.Machine, recovered.PID, recovered.Command, recovered.Version, recovered.Since.Format("2006-01-02T15:04:05Z"))})
		}
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

// walker builds the walker of a session.
func (g *globals) walker(s *session, signoffs map[string]string) *runbook.Walker {
	var p runbook.Prompter
	if g.interactive && !g.yes {
		p = newPrompter(g)
	}
	return &runbook.Walker{
		RB:       s.rb,
		Store:    s.store,
		Exec:     s.exec,
		Prompt:   p,
		UI:       s.ui,
		Masker:   s.masker,
		Secrets:  s.secrets,
		Differ:   s.exec,
		Operator: operator(),
		Machine:  machine(),
		Yes:      g.yes,
		Signoffs: signoffs,
		LogDir:   filepath.Join(g.workDir(s.rb), "logs"),
	}
}

// needTerminal refuses to walk without a terminal unless --yes was given.
func (g *globals) needTerminal(cmd string) error {
	if g.interactive || g.yes {
		return nil
	}
	return runbook.WithHint(usagef("%s asks the operator before each step, and there is no terminal", cmd),
		"run it in a terminal, or pass --yes to take the default at every prompt (sign-offs with --signoff ROLE=NAME)")
}
