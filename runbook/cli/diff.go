package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/spf13/cobra"
)

func newDiff(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "diff ENV_A ENV_B",
		Short: "Compare the consistency facts of two environments",
		Long: `Collect every consistency fact of the runbook (files read over SFTP,
commands run) from every host of both environments, drop the lines that
match an ignore pattern, trim whitespace, and show which hosts agree and a
unified diff where they do not. Exits 0 when every fact agrees, 1 when
something differs. A missing file or a failing command is a difference.`,
		Example: `  runbook diff prerelease production
  runbook diff prerelease production --json`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeEnvs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rb, err := g.load()
			if err != nil {
				return err
			}
			r, err := g.reach(rb)
			if err != nil {
				return err
			}
			defer r.Close()
			return g.runDiff(cmd.Context(), r, args[0], args[1], asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// runDiff compares two environments and prints the report; the error says
// how many facts differ.
func (g *globals) runDiff(ctx context.Context, r *reach, envA, envB string, asJSON bool) error {
	for _, name := range []string{envA, envB} {
		if _, err := environment(r.rb, name); err != nil {
			return err
		}
	}
	if envA == envB {
		return usagef("diff compares two different environments, and %s was named twice", envA)
	}
	rep, err := r.exec.Diff(ctx, envA, envB, nil)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("diff %s %s: %w", envA, envB, runbook.ErrInterrupted)
		}
		return runbook.WithHint(fmt.Errorf("collect the facts of %s and %s: %w", envA, envB, err),
			fmt.Sprintf("every host must be reachable: `runbook exec %s -- true` tries them", envA))
	}
	if asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("encode the diff report: %w", err)
		}
		fmt.Fprintln(g.stdout, g.masker.Mask(string(b)))
	} else {
		printDiff(g.stdout, rep, g.masker.Mask)
	}
	n := 0
	for _, f := range rep.Facts {
		if !f.Agree {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return runbook.WithHint(fmt.Errorf("%d of %d consistency fact(s) differ between %s and %s", n, len(rep.Facts), envA, envB),
		"make the hosts agree and compare again; a diff step accepts a known difference with `runbook resume --accept-diff STEP=REASON`")
}

// printDiff shows each fact: the hosts of each variant, and the unified
// diff between the first two.
func printDiff(w io.Writer, rep *runbook.DiffReport, mask func(string) string) {
	// Values are what hosts hold: terminal-safe first (L-8), then masked.
	unsafeMask := mask
	mask = func(s string) string { return unsafeMask(runbook.TermSafe(s)) }
	if len(rep.Facts) == 0 {
		fmt.Fprintf(w, "no consistency facts to compare: add consistency: {files: [...], commands: [...]} to the runbook\n")
		return
	}
	for _, f := range rep.Facts {
		if f.Agree {
			hosts := 0
			if len(f.Variants) > 0 {
				hosts = len(f.Variants[0].Hosts)
			}
			line := fmt.Sprintf("%s %s %s — %d hosts agree", green.Sprint("✓"), f.Kind, bold.Sprint(mask(f.Fact)), hosts)
			if len(f.Variants) > 0 && f.Variants[0].Error != "" {
				line += faint.Sprint(" (all: " + mask(f.Variants[0].Error) + ")")
			}
			fmt.Fprintln(w, line)
			continue
		}
		fmt.Fprintf(w, "%s %s %s — %d variants\n", red.Sprint("✗"), f.Kind, bold.Sprint(mask(f.Fact)), len(f.Variants))
		for i, v := range f.Variants {
			label := string(rune('A' + i%26))
			what := ""
			if v.Error != "" {
				what = red.Sprint(": " + mask(v.Error))
			}
			fmt.Fprintf(w, "    %s  %s%s\n", label, strings.Join(v.Hosts, ", "), what)
		}
		for _, line := range strings.Split(strings.TrimSuffix(mask(f.Unified), "\n"), "\n") {
			if line == "" {
				continue
			}
			fmt.Fprintln(w, "    "+diffColor(line))
		}
		// The unified diff covers the first two; a third way is shown whole.
		for i, v := range f.Variants {
			if i < 2 || v.Error != "" {
				continue
			}
			fmt.Fprintf(w, "    %s:\n", string(rune('A'+i%26)))
			for _, line := range strings.Split(mask(v.Value), "\n") {
				fmt.Fprintln(w, "      "+line)
			}
		}
	}
	differ := 0
	for _, f := range rep.Facts {
		if !f.Agree {
			differ++
		}
	}
	fmt.Fprintf(w, "\n%s and %s: %d of %d fact(s) agree\n", rep.EnvA, rep.EnvB, len(rep.Facts)-differ, len(rep.Facts))
}

func diffColor(line string) string {
	switch {
	case strings.HasPrefix(line, "---"), strings.HasPrefix(line, "+++"):
		return bold.Sprint(line)
	case strings.HasPrefix(line, "@@"):
		return faint.Sprint(line)
	case strings.HasPrefix(line, "-"):
		return red.Sprint(line)
	case strings.HasPrefix(line, "+"):
		return green.Sprint(line)
	}
	return line
}
