package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/spf13/cobra"
)

func newCheck(g *globals) *cobra.Command {
	var envs, so []string
	var version, from string
	cmd := &cobra.Command{
		Use:   "check [--env E]... [--version V] [--from STEP] [--signoff ROLE=NAME]...",
		Short: "Preflight, changing nothing: hosts, keys, logins, secrets, deploy dirs and room, the artifact, sign-offs",
		Long: `Check, changing nothing, what would stop a release at one of its steps, and
list every problem at once: each host reachable with its key known (never
asked: an unknown key is reported) and its login accepted, every secret the
runbook names in the vault, deploy_dir able to take the release (the upload's
rules) with room for the artifact, the artifact present or a step before the
first upload that builds it, every --signoff role asked for by a confirm
step, and, with --yes, every sign-off a confirm step needs given.

start runs the same checks before a release's first step. Exit codes: 0
ready; 2 a mistake on the command line (a --signoff role no step asks for);
5 the vault; 1 something broken (a host, a login, a directory, room, the
artifact); 3 only decisions nobody could make here (an unknown host key, a
sign-off --yes cannot give). With several, the first in that order.`,
		Example: `  runbook check
  runbook check --env production --version 2.4.0
  runbook check --yes --signoff QA="Li Na" --signoff DBA="Wang Li"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if version != "" {
				if err := runbook.CheckVersion(version); err != nil {
					return badVersion("--version", err)
				}
			}
			signoffs, err := parseSignoffs(so)
			if err != nil {
				return err
			}
			rb, err := g.load()
			if err != nil {
				return err
			}
			if from != "" && rb.Step(from) == nil {
				return runbook.WithHint(usagef("--from %s: no such step", from), "`runbook plan` lists the steps")
			}
			for _, e := range envs {
				if _, err := environment(rb, e); err != nil {
					return err
				}
			}
			if len(envs) == 0 {
				envs = rb.EnvOrder
			}
			res := secrets.NewResolver(func() (*secrets.Vault, error) { return g.openVault(rb) }, g.masker)
			// Its own connections, which never ask about a host key: a
			// check reports an unknown key rather than trusting one.
			pool := remote.NewPool(remote.PoolOptions{KnownHosts: rb.KnownHosts, AcceptNewHostKeys: g.acceptNew})
			exec := &steps.Executor{RB: rb, Dialer: pool, MarkerDir: filepath.Join(g.workDir(rb), "runs"), Secret: res.Secret, Closer: pool}
			defer exec.Close()
			p := &preflight{rb: rb, exec: exec, secrets: res, version: version, from: from, envs: envs, signoffs: signoffs, asks: g.interactive && !g.yes}
			return g.runCheck(cmd.Context(), p)
		},
	}
	cmd.Flags().StringArrayVar(&envs, "env", nil, "check only this environment's hosts (repeatable; default: every environment)")
	cmd.Flags().StringVar(&version, "version", "", "the version to be released (a host that has it staged needs no room)")
	cmd.Flags().StringVar(&from, "from", "", "check as for start --from STEP: the steps before it do not run")
	cmd.Flags().StringArrayVar(&so, "signoff", nil, "sign-off ROLE=NAME as start would be given (repeatable)")
	return cmd
}

// runCheck runs p and reports every line, then every problem.
func (g *globals) runCheck(ctx context.Context, p *preflight) error {
	title := "check of " + p.rb.Name
	if p.version != "" {
		title += " for release " + p.version
	}
	fmt.Fprintln(g.stdout, bold.Sprint(g.masker.Mask(runbook.TermSafeLine(title))))
	lines, problems := p.run(ctx)
	if err := interruptedCheck(ctx, problems); err != nil {
		return err
	}
	g.printCheck(g.stdout, lines)
	if len(problems) > 0 {
		return &problemsError{problems: problems}
	}
	fmt.Fprintln(g.stdout, green.Sprint("ready to start: nothing found that would stop the release"))
	return nil
}

// printCheck writes the report of a preflight, one line per thing
// checked.
func (g *globals) printCheck(w io.Writer, lines []checkLine) {
	width := 0
	for _, l := range lines {
		width = max(width, len(l.what))
	}
	for _, l := range lines {
		mark := green.Sprint("✓")
		if !l.ok {
			mark = red.Sprint("✗")
		}
		fmt.Fprintf(w, "  %s %-*s  %s\n", mark, width, runbook.TermSafeLine(l.what), g.masker.Mask(runbook.TermSafeLine(l.text)))
	}
}

// interruptedCheck is the error of a preflight stopped by Ctrl-C (at a
// host-key question, or while hosts were reached), nil otherwise.
func interruptedCheck(ctx context.Context, problems []problem) error {
	for _, p := range problems {
		if isPromptInterrupted(p.err) {
			return runbook.WithHint(runbook.ErrPromptInterrupted, "nothing was run, recorded or changed")
		}
	}
	if ctx.Err() != nil {
		return runbook.WithHint(runbook.ErrPromptInterrupted, "nothing was run, recorded or changed")
	}
	return nil
}

// walkPreflight is the engine's Preflight for start and resume: before a
// release's first step, every check of `runbook check` on the steps that
// will run, through the session's connections (so a host key is asked
// about, or refused under --yes, as it would be at the step); before a
// release that has run steps goes on, the secrets the walk needs.
func (g *globals) walkPreflight(s *session, version string, signoffs map[string]string) func(context.Context, bool, string) error {
	return func(ctx context.Context, fresh bool, from string) error {
		if !fresh {
			return preloadSecrets(s.rb, s.secrets)
		}
		p := &preflight{rb: s.rb, exec: s.exec, secrets: s.secrets, version: version, from: from, signoffs: signoffs, asks: g.interaction().Asks()}
		lines, problems := p.run(ctx)
		if err := interruptedCheck(ctx, problems); err != nil {
			return err
		}
		if len(problems) > 0 {
			g.printCheck(g.stdout, lines)
			return &problemsError{problems: problems, start: true}
		}
		var what []string
		hosts := 0
		for _, l := range lines {
			if l.what == "sign-offs" || l.what == "secrets" || l.what == "artifact" {
				what = append(what, l.what)
			} else {
				hosts++
			}
		}
		if hosts > 0 {
			what = append(what, fmt.Sprintf("%d host(s)", hosts))
		}
		if len(what) > 0 {
			s.ui.Detail("checked before the first step: " + strings.Join(what, ", ") + ": ready")
		}
		return nil
	}
}
