package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/spf13/cobra"
)

type startOptions struct {
	version  string
	from     string
	signoffs []string
	again    bool
	accept   []string
	same     bool
}

func newStart(g *globals) *cobra.Command {
	o := &startOptions{}
	cmd := &cobra.Command{
		Use:   "start --version V",
		Short: "Start a release of version V, or resume the unfinished one of V",
		Long: `Start a release of version V: walk every step of the runbook, asking
before each one. If a release of V is unfinished it is resumed; if V was
already released successfully, nothing runs (--again starts a new release).`,
		Example: `  runbook start --version 2.4.0
  runbook start --version 2.4.0 --yes --signoff QA="Li Na" --signoff DBA="Wang Li"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.version == "" {
				return usagef("start needs --version V (the version being released)")
			}
			if err := runbook.CheckVersion(o.version); err != nil {
				return badVersion("--version", err)
			}
			signoffs, err := parseSignoffs(o.signoffs)
			if err != nil {
				return err
			}
			if err := checkAcceptDiffText(o.accept); err != nil {
				return err
			}
			if err := g.needTerminal("start"); err != nil {
				return err
			}
			s, err := g.openWalk(cmd.Context(), "start", o.version, signoffs)
			if err != nil {
				return err
			}
			defer s.Close()
			accept, err := parseAcceptDiff(o.accept, s.rb)
			if err != nil {
				return err
			}
			e := g.engine(s, signoffs, accept, o.same)
			err = e.Start(cmd.Context(), engine.StartOptions{Version: o.version, From: o.from, Again: o.again})
			return g.afterWalk(cmd.Context(), s, e, err)
		},
	}
	cmd.Flags().StringVar(&o.version, "version", "", "version to release (required)")
	cmd.Flags().StringVar(&o.from, "from", "", "skip the steps before STEP (recorded as skipped)")
	cmd.Flags().StringArrayVar(&o.signoffs, "signoff", nil, "sign-off ROLE=NAME for confirm steps (repeatable)")
	cmd.Flags().BoolVar(&o.again, "again", false, "start a new release even if this version already succeeded")
	cmd.Flags().StringArrayVar(&o.accept, "accept-diff", nil, "accept the differences found by diff step STEP=REASON (repeatable, recorded)")
	cmd.Flags().BoolVar(&o.same, "same-artifact", false, "ship an artifact byte-identical to an earlier release's without asking (recorded)")
	g.takeOverFlag(cmd)
	return cmd
}

func newResume(g *globals) *cobra.Command {
	var from string
	var same bool
	var so, accept []string
	cmd := &cobra.Command{
		Use:   "resume",
		Short: "Resume the unfinished release (a failed step is retried)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			signoffs, err := parseSignoffs(so)
			if err != nil {
				return err
			}
			if err := checkAcceptDiffText(accept); err != nil {
				return err
			}
			if err := g.needTerminal("resume"); err != nil {
				return err
			}
			s, err := g.openWalk(cmd.Context(), "resume", "", signoffs)
			if err != nil {
				return err
			}
			defer s.Close()
			acceptDiff, err := parseAcceptDiff(accept, s.rb)
			if err != nil {
				return err
			}
			e := g.engine(s, signoffs, acceptDiff, same)
			return g.afterWalk(cmd.Context(), s, e, e.Resume(cmd.Context(), from))
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "skip the pending steps before STEP (recorded as skipped)")
	cmd.Flags().StringArrayVar(&so, "signoff", nil, "sign-off ROLE=NAME for confirm steps (repeatable)")
	cmd.Flags().StringArrayVar(&accept, "accept-diff", nil, "accept the differences found by diff step STEP=REASON (repeatable, recorded)")
	cmd.Flags().BoolVar(&same, "same-artifact", false, "ship an artifact byte-identical to an earlier release's without asking (recorded)")
	g.takeOverFlag(cmd)
	return cmd
}

func newAbort(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "abort",
		Short: "End the unfinished release without undoing anything (recorded)",
		Long: `End the unfinished release for good, without undoing anything: afterwards
it can be neither resumed nor rolled back step by step (rollback --to still
switches hosts to a staged release). In a terminal it asks to confirm, naming
the hosts the release changed; --yes skips the question.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := runbook.CheckText("--reason", reason); err != nil {
				return err
			}
			if err := g.needTerminal("abort"); err != nil {
				return err
			}
			s, err := g.open(cmd.Context(), "abort", "")
			if err != nil {
				return err
			}
			defer s.Close()
			return g.engine(s, nil, nil, false).Abort(cmd.Context(), reason)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the report)")
	g.takeOverFlag(cmd)
	return cmd
}

// parseSignoffs reads --signoff ROLE=NAME. Both go into the record and
// every report, so both must be one line of plain text.
func parseSignoffs(list []string) (map[string]string, error) {
	m := map[string]string{}
	for _, s := range list {
		k, v, err := splitKV(s)
		if err != nil {
			return nil, usagef("--signoff %s: %v", quoted(s), err)
		}
		if err := runbook.CheckText("--signoff role", k); err != nil {
			return nil, err
		}
		if err := runbook.CheckText("--signoff name", v); err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// badVersion is a rejected version from the command line, with the hint.
func badVersion(flag string, err error) error {
	return runbook.WithHint(fmt.Errorf("%s: %w", flag, err),
		"give the version as the build names it, like 2.4.0, 2.4.0-rc1 or 2024.12.01+b7")
}

// quoted shows an argument in a message: quoted, control characters escaped.
func quoted(s string) string { return strconv.QuoteToGraphic(s) }

// checkAcceptDiffText checks the reasons of --accept-diff STEP=REASON
// before anything is opened: they go into the record.
func checkAcceptDiffText(list []string) error {
	for _, s := range list {
		if _, v, err := splitKV(s); err == nil {
			if err := runbook.CheckText("--accept-diff reason", v); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseAcceptDiff reads --accept-diff STEP=REASON; STEP must be a diff
// step, since an acceptance that matches nothing would go unnoticed.
func parseAcceptDiff(list []string, rb *runbook.Runbook) (map[string]string, error) {
	m := map[string]string{}
	for _, s := range list {
		k, v, err := splitKV(s)
		if err != nil {
			return nil, usagef("--accept-diff %s: want STEP=REASON, the reason is recorded", quoted(s))
		}
		if st := rb.Step(k); st == nil || st.Kind != runbook.KindDiff {
			return nil, usagef("--accept-diff %s: %s is not a diff step of the runbook", quoted(s), k)
		}
		m[k] = v
	}
	return m, nil
}

// afterWalk prints the recap of the walk, and where the release stands
// when the walk stopped early.
func (g *globals) afterWalk(ctx context.Context, s *session, e *engine.Engine, err error) error {
	g.recap(ctx, s, e)
	if err != nil && e.Release() != nil {
		r := e.Release()
		fmt.Fprintf(g.stdout, "\nrelease %s (#%d) is %s; `runbook status` shows where it stands\n", r.Version, r.ID, r.State)
	}
	if err == nil && e.Release() != nil && e.Release().State == runbook.ReleaseSucceeded {
		fmt.Fprintf(g.stdout, "`runbook status` shows the record; `runbook report` the summary\n")
	}
	return err
}
