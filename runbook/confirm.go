package runbook

import (
	"context"
	"fmt"
	"strings"
)

// signoffsAvailable fails early, before the step starts, when a sign-off is
// needed and can neither be asked nor was given with --signoff.
func (w *Walker) signoffsAvailable(s *Step) error {
	if w.Prompt != nil && !w.Yes {
		return nil
	}
	var missing []string
	for _, role := range s.Signoff {
		if strings.TrimSpace(w.Signoffs[role]) == "" {
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
	return WithHint(fmt.Errorf("%w: step %s needs a sign-off by %s", ErrNeedsHuman, s.Name, strings.Join(missing, ", ")),
		"pass "+strings.Join(flags, " ")+", or run it in a terminal")
}

// confirm records the sign-offs of a confirm step. The question itself was
// answered in beforeStep (or by --yes).
func (w *Walker) confirm(ctx context.Context, s *Step, sr *StepRun) error {
	if err := w.signoffsAvailable(s); err != nil {
		return err
	}
	names := map[string]string{}
	via := map[string]string{}
	for _, role := range s.Signoff {
		if n := strings.TrimSpace(w.Signoffs[role]); n != "" {
			names[role], via[role] = n, "--signoff"
			continue
		}
		for names[role] == "" {
			n, err := w.Prompt.Input(fmt.Sprintf("%s sign-off: name of the person taking responsibility", role), "")
			if err != nil {
				return w.promptErr(ctx, sr, err)
			}
			names[role], via[role] = strings.TrimSpace(n), "prompt"
		}
	}
	for _, role := range s.Signoff {
		so := Signoff{ReleaseID: w.rel.ID, Step: s.Name, Role: role, Name: names[role], OSUser: w.Operator, At: w.now(), Via: via[role]}
		if err := w.Store.AddSignoff(ctx, so); err != nil {
			return fmt.Errorf("record the %s sign-off: %w", role, err)
		}
		w.UI.Info(fmt.Sprintf("%s signed off by %s (as OS user %s)", role, so.Name, w.Operator))
	}
	how := "confirmed at the prompt by " + w.Operator
	if w.Yes || w.Prompt == nil {
		how = "confirmed by --yes (OS user " + w.Operator + ")"
	}
	w.note(ctx, "confirm", s.Name, "", how+": "+s.Confirm)
	return nil
}
