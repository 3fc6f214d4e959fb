package cli

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/spf13/cobra"
)

type unlockOptions struct {
	env    string
	force  bool
	reason string
}

func newUnlock(g *globals) *cobra.Command {
	o := &unlockOptions{}
	cmd := &cobra.Command{
		Use:   "unlock [--env E --reason R [--force]]",
		Short: "Lift the lock of the releases, or remove an environment lock whose owner is gone",
		Long: `Without --env: lift the lock of the releases set by runbook lock.

With --env E: remove the environment lock that a runbook left on the hosts
of E (in each host's deploy_dir), once its owner is gone. An owner of this
machine is checked: its process must be gone. An owner of another machine
cannot be checked from here: --force says you checked. The removal is
recorded with --reason, on every host, and with the owner's release when it
is in this state.`,
		Example: `  runbook unlock
  runbook unlock --env production --reason "alice's laptop died; checked with her"
  runbook unlock --env production --force --reason "INC-2231: laptop-a is gone"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rb, err := g.load()
			if err != nil {
				return err
			}
			if o.env == "" {
				if o.force || o.reason != "" {
					return usagef("--force and --reason go with --env E (an environment lock)")
				}
				return g.unlockReleases(cmd.Context(), rb)
			}
			return g.unlockEnv(cmd.Context(), rb, o)
		},
	}
	cmd.Flags().StringVar(&o.env, "env", "", "remove the environment lock on the hosts of E")
	cmd.Flags().BoolVar(&o.force, "force", false, "remove a lock whose owner ran on another machine (check first that it is gone)")
	cmd.Flags().StringVar(&o.reason, "reason", "", "why (recorded)")
	return cmd
}

// unlockReleases lifts the deliberate lock.
func (g *globals) unlockReleases(ctx context.Context, rb *runbook.Runbook) error {
	st, err := g.openStore(ctx, rb)
	if err != nil {
		return err
	}
	defer st.Close()
	l, err := st.UnlockReleases(ctx)
	if err != nil {
		return err
	}
	if l == nil {
		fmt.Fprintln(g.stdout, "the releases were not locked")
		return nil
	}
	fmt.Fprintf(g.stdout, "lifted the lock of %s on %s (since %s): %s\n", l.Operator, l.Machine, l.At.UTC().Format(time.RFC3339), g.masker.Mask(runbook.TermSafeLine(l.Message)))
	return nil
}

// unlockEnv removes the environment lock from the hosts of o.env after
// checking that its owner is gone, and records it.
func (g *globals) unlockEnv(ctx context.Context, rb *runbook.Runbook, o *unlockOptions) error {
	env, err := environment(rb, o.env)
	if err != nil {
		return err
	}
	if o.reason == "" {
		return usagef("unlock --env %s needs --reason R: removing a lock is recorded with why", o.env)
	}
	if err := runbook.CheckText("--reason", o.reason); err != nil {
		return err
	}
	r, err := g.reach(rb)
	if err != nil {
		return err
	}
	defer r.Close()
	st, err := g.openStore(ctx, rb)
	if err != nil {
		return err
	}
	defer st.Close()
	here := machine()
	removed := 0
	for _, h := range env.Hosts {
		owner, err := r.exec.HostLock(ctx, h)
		var le *runbook.EnvLockedError
		unknown := errors.As(err, &le) && le.Unknown
		switch {
		case unknown && !o.force:
			return runbook.WithHint(err, "nothing says whose it is: check that no runbook works on "+o.env+", then add --force")
		case err != nil && !unknown:
			return fmt.Errorf("read the lock of %s on %s: %w", o.env, h.Name, err)
		case owner == nil && !unknown:
			if h.DeployDir != "" {
				fmt.Fprintf(g.stdout, "%s: not locked\n", h.Name)
			}
			continue
		case owner != nil:
			if err := ownerGone(*owner, here, o.force); err != nil {
				return err
			}
		}
		if err := r.exec.BreakHostLock(ctx, h); err != nil {
			return fmt.Errorf("remove the lock of %s on %s: %w", o.env, h.Name, err)
		}
		removed++
		what := "the environment lock (it named no owner)"
		if owner != nil {
			what = "the environment lock of " + owner.String()
		}
		fmt.Fprintf(g.stdout, "%s: removed %s\n", h.Name, g.masker.Mask(runbook.TermSafeLine(what)))
		now := time.Now().UTC()
		op := runbook.Operation{Env: o.env, Host: h.Name, Name: "unlock", Command: "remove " + what, ExitCode: 0,
			StartedAt: now, FinishedAt: now, Operator: g.operator(), OSUser: osUser(), OutputTail: o.reason}
		if err := st.AddOperation(context.WithoutCancel(ctx), op); err != nil {
			return fmt.Errorf("record the removal of the lock on %s: %w", h.Name, err)
		}
		g.noteUnlock(ctx, st, owner, h.Name, o.reason)
	}
	if removed == 0 {
		fmt.Fprintf(g.stdout, "environment %s was not locked\n", o.env)
	}
	return nil
}

// ownerGone refuses to remove the lock of an owner that may still run:
// one of this machine whose process is alive, or one of another machine
// without --force.
func ownerGone(o runbook.EnvLockOwner, here string, force bool) error {
	locked := &runbook.EnvLockedError{Env: o.Env, Owner: o}
	if o.Machine == here {
		if o.PID > 0 && !errors.Is(syscall.Kill(o.PID, 0), syscall.ESRCH) {
			return runbook.WithHint(fmt.Errorf("%w, and its process %d still runs here", locked, o.PID),
				"let it finish, or stop it (its release pauses and keeps the lock until it ends)")
		}
		return nil
	}
	if !force {
		return runbook.WithHint(fmt.Errorf("%w, which this machine cannot check", locked),
			fmt.Sprintf("check on %s that no runbook of release %s runs there (ask %s), then add --force", o.Machine, o.Version, o.Operator))
	}
	return nil
}

// noteUnlock records the removal with the owner's release when that
// release is in this state.
func (g *globals) noteUnlock(ctx context.Context, st runbook.Store, owner *runbook.EnvLockOwner, host, reason string) {
	if owner == nil || owner.ReleaseID == 0 {
		return
	}
	id, err := st.StoreID(ctx)
	if err != nil || id != owner.StoreID {
		return
	}
	_ = st.AddNote(context.WithoutCancel(ctx), &runbook.Note{ReleaseID: owner.ReleaseID, Kind: "lock", Host: host, Operator: g.operator(), OSUser: osUser(),
		Text: fmt.Sprintf("environment lock of %s on %s removed by %s on %s: %s", owner.Env, host, g.operator(), machine(), reason)})
}
