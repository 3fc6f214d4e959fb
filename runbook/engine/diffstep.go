package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
)

// errDiffers fails a diff step; the failure prompt offers ChAccept for it.
type errDiffers struct{ n int }

func (e *errDiffers) Error() string {
	return fmt.Sprintf("%d consistency fact(s) differ between the environments", e.n)
}

// diff compares the step's two environments and records the result. A
// difference fails the step unless it was accepted (--accept-diff, or the
// failure prompt) with a reason, which is recorded as a deviation.
func (w *walk) diff(ctx context.Context, s *runbook.Step, sr *runbook.StepRun) error {
	if w.cfg.Differ == nil {
		return fmt.Errorf("step %s: no way to collect facts in this build", s.Name)
	}
	out := w.cfg.UI.HostOutput(s, "diff")
	rep, err := w.cfg.Differ.Diff(ctx, s.Diff[0], s.Diff[1], out)
	out.Close()
	if err != nil {
		if ctx.Err() != nil {
			return runbook.WithHint(runbook.ErrInterrupted, "state saved; `runbook resume` compares again")
		}
		return fmt.Errorf("step %s: collect facts: %w", s.Name, err)
	}
	b, _ := json.Marshal(rep)
	w.rec.note(ctx, "diff", s.Name, "", string(b))
	n := 0
	for _, f := range rep.Facts {
		if !f.Agree {
			n++
			w.cfg.UI.Warn(fmt.Sprintf("%s %s differs:\n%s", f.Kind, f.Fact, w.cfg.Masker.Mask(describeVariants(f))))
		}
	}
	if n == 0 {
		w.cfg.UI.Detail(fmt.Sprintf("%d fact(s) agree between %s and %s", len(rep.Facts), rep.EnvA, rep.EnvB))
		return nil
	}
	if reason, ok := w.cfg.AcceptDiff[s.Name]; ok && strings.TrimSpace(reason) != "" {
		w.rec.note(ctx, "deviation", s.Name, "", fmt.Sprintf("accepted %d differing fact(s): %s", n, reason))
		w.cfg.UI.Warn(fmt.Sprintf("%d differing fact(s) accepted with --accept-diff: %s", n, reason))
		return nil
	}
	return &errDiffers{n: n}
}

func describeVariants(f runbook.FactDiff) string {
	var b strings.Builder
	for _, v := range f.Variants {
		val := v.Value
		if v.Error != "" {
			val = "error: " + v.Error
		}
		fmt.Fprintf(&b, "  %s:\n%s\n", strings.Join(v.Hosts, ", "), indent(val))
	}
	if f.Unified != "" {
		b.WriteString(indent(f.Unified))
	}
	return strings.TrimRight(b.String(), "\n")
}
