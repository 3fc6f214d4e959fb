package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/spf13/cobra"
)

// panelQuit is the menu entry that ends the panel.
const panelQuit = "quit"

// panelItem is one entry of the panel's menu.
type panelItem struct {
	label string
	run   func(ctx context.Context) error
	// confirm, for an entry that changes hosts, is the question asked
	// before it runs (default no); "" for read-only entries, which run on
	// one key.
	confirm string
}

// readOnlyOps are the operations the panel runs without asking: by the
// SPEC's own naming, they look and change nothing.
var readOnlyOps = map[string]bool{"status": true, "logs": true}

func newPanel(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "panel",
		Short: "Interactive menu of what the night needs: operations, checks, diff, status, handbook",
		Long: `Show a menu of everything that makes sense during a release night — each
environment's operations, the handbook's checks, diff, status and the
handbook itself — and run the chosen entry, until the operator quits. It
takes no release lock, so it can stay open beside a running release.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !g.interactive {
				return runbook.WithHint(usagef("panel is a menu for a terminal, and there is none"),
					"the same actions run without it: runbook op, exec, diff, status, info")
			}
			rb, err := g.load()
			if err != nil {
				return err
			}
			r, err := g.reach(rb)
			if err != nil {
				return err
			}
			defer r.Close()
			return g.panel(cmd.Context(), r)
		},
	}
}

// panel shows the menu until the operator quits. A failing entry is
// reported and the menu comes back: the night goes on.
func (g *globals) panel(ctx context.Context, r *reach) error {
	items := g.panelItems(r)
	labels := make([]string, len(items))
	byLabel := map[string]panelItem{}
	for i, it := range items {
		labels[i] = it.label
		byLabel[it.label] = it
	}
	ia := g.interaction()
	last := labels[0]
	for {
		choice, err := ia.Choose(engine.Question{Msg: "What now?", Options: labels, Default: last})
		if err != nil {
			if errors.Is(err, runbook.ErrPromptInterrupted) {
				return nil // Ctrl-C at the menu is a way to quit
			}
			return fmt.Errorf("panel menu: %w", err)
		}
		if choice == panelQuit {
			return nil
		}
		it := byLabel[choice]
		last = choice
		if it.confirm != "" {
			// After an entry that changes hosts, Enter must not run it
			// again: the cursor goes back to the top.
			last = labels[0]
			ok, err := ia.Confirm(it.confirm, "Yes, run it", "No")
			if err != nil {
				if errors.Is(err, runbook.ErrPromptInterrupted) {
					return nil
				}
				return fmt.Errorf("panel: %w", err)
			}
			if !ok {
				fmt.Fprintln(g.stdout, "not run")
				continue
			}
		}
		if err := it.run(ctx); err != nil {
			if ctx.Err() != nil {
				return err
			}
			printError(g.stderr, err, g.masker.Mask)
		}
		fmt.Fprintln(g.stdout)
	}
}

// panelItems lists the menu: operations per environment, the handbook's
// checks, the diffs worth making, status, the handbook, quit.
func (g *globals) panelItems(r *reach) []panelItem {
	rb := r.rb
	var items []panelItem
	add := func(label string, run func(ctx context.Context) error) {
		items = append(items, panelItem{label: label, run: run})
	}
	add("status — where the release stands", func(ctx context.Context) error {
		c := newStatus(g)
		c.SetContext(ctx)
		return c.RunE(c, nil)
	})
	for _, en := range rb.EnvOrder {
		env := rb.Envs[en]
		for _, op := range env.OpOrder {
			add(fmt.Sprintf("op %s %s", en, op), func(ctx context.Context) error { return g.runOp(ctx, r, en, op, "") })
			if !readOnlyOps[op] {
				items[len(items)-1].confirm = fmt.Sprintf("Run %s on %s: %s (%d at a time)?", op, en, hostNames(env.Hosts), max(env.Parallel, 1))
			}
		}
	}
	for _, c := range rb.Handbook.Checks {
		env := rb.Envs[c.On]
		if env == nil {
			continue
		}
		add(fmt.Sprintf("check %s (on %s)", c.Name, c.On), func(ctx context.Context) error {
			return g.runOnHosts(ctx, r, hostJob{
				env: env, hosts: env.Hosts, name: "check: " + c.Name, title: "check " + c.Name,
				command: func(h *runbook.Host) (string, error) { return r.render("check "+c.Name, c.Run, h) },
			})
		})
	}
	for _, pair := range diffPairs(rb) {
		add(fmt.Sprintf("diff %s %s", pair[0], pair[1]), func(ctx context.Context) error { return g.runDiff(ctx, r, pair[0], pair[1], false) })
	}
	add("info — the handbook", func(ctx context.Context) error { return g.runInfo(ctx, infoOptions{format: "text"}) })
	add(panelQuit, nil)
	return items
}

// diffPairs are the environment pairs the runbook's diff steps compare;
// without diff steps, every pair, when there are facts to compare.
func diffPairs(rb *runbook.Runbook) [][2]string {
	var pairs [][2]string
	seen := map[[2]string]bool{}
	for _, s := range rb.Steps {
		if s.Kind == runbook.KindDiff && len(s.Diff) == 2 {
			p := [2]string{s.Diff[0], s.Diff[1]}
			if !seen[p] {
				seen[p] = true
				pairs = append(pairs, p)
			}
		}
	}
	c := rb.Consistency
	if len(pairs) > 0 || len(c.Files)+len(c.Commands) == 0 {
		return pairs
	}
	for i, a := range rb.EnvOrder {
		for _, b := range rb.EnvOrder[i+1:] {
			pairs = append(pairs, [2]string{a, b})
		}
	}
	return pairs
}
