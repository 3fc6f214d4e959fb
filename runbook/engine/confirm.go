package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
)

// signoffsAvailable fails early, before the step starts, when a sign-off is
// needed and can neither be asked nor was given with --signoff.
func (w *walk) signoffsAvailable(s *runbook.Step) error {
	if w.ask.Asks() {
		return nil
	}
	var missing []string
	for _, role := range s.Signoff {
		if strings.TrimSpace(w.cfg.Signoffs[role]) == "" {
			missing = append(missing, role)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	flags := make([]string, len(missing))
	for i, r := range missing {
		flags[i] = fmt.Sprintf("--signoff %s=NAME", r)
	}
	return runbook.WithHint(fmt.Errorf("%w: step %s needs a sign-off by %s", runbook.ErrNeedsHuman, s.Name, strings.Join(missing, ", ")),
		"pass "+strings.Join(flags, " ")+", or run it in a terminal")
}

// confirm records the sign-offs of a confirm step. The question itself was
// answered in before (or by --yes).
func (w *walk) confirm(ctx context.Context, s *runbook.Step, sr *runbook.StepRun) error {
	if err := w.signoffsAvailable(s); err != nil {
		return err
	}
	names := map[string]string{}
	via := map[string]string{}
	for _, role := range s.Signoff {
		if n := strings.TrimSpace(w.cfg.Signoffs[role]); n != "" {
			names[role], via[role] = n, "--signoff"
			continue
		}
		n, err := w.ask.Text(fmt.Sprintf("%s sign-off: name of the person taking responsibility", role), "", "")
		if err != nil {
			return w.promptErr(ctx, sr, err)
		}
		names[role], via[role] = n, "prompt"
	}
	for _, role := range s.Signoff {
		so := runbook.Signoff{ReleaseID: w.rel().ID, Step: s.Name, Role: role, Name: names[role], Operator: w.cfg.Operator, OSUser: w.cfg.OSUser, At: w.rec.now(), Via: via[role]}
		if err := w.cfg.Store.AddSignoff(ctx, so); err != nil {
			return fmt.Errorf("record the %s sign-off: %w", role, err)
		}
		w.cfg.UI.Info(fmt.Sprintf("%s signed off by %s (%s)", role, so.Name, w.who()))
	}
	how := "confirmed at the prompt by " + w.cfg.Operator
	if !w.ask.Asks() {
		how = "confirmed by --yes (" + w.who() + ")"
	}
	w.rec.note(ctx, "confirm", s.Name, "", how+": "+s.Confirm)
	return nil
}

// who names the operator and, when it is another name, the OS user
// runbook runs as: "operator bob, OS user builder", or "OS user alice"
// when nobody gave --operator.
func (w *walk) who() string {
	if w.cfg.Operator == "" || w.cfg.Operator == w.cfg.OSUser {
		return "OS user " + w.cfg.OSUser
	}
	if w.cfg.OSUser == "" {
		return "operator " + w.cfg.Operator
	}
	return "operator " + w.cfg.Operator + ", OS user " + w.cfg.OSUser
}
