package runbook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// FactVariant is one distinct value of a fact and the hosts that have it.
type FactVariant struct {
	Hosts []string `json:"hosts"` // "env/host"
	// Value is the normalised content (ignored lines dropped, whitespace
	// trimmed); Error is set instead when the file is missing or the
	// command failed, which counts as a difference, not a crash.
	Value string `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
}

// FactDiff is one consistency fact across the hosts of two environments.
type FactDiff struct {
	Kind     string        `json:"kind"` // "file" or "command"
	Fact     string        `json:"fact"` // the template as written: identifies the fact
	Agree    bool          `json:"agree"`
	Variants []FactVariant `json:"variants"`
	// Unified is a unified diff between the first two variants when they differ.
	Unified string `json:"unified,omitempty"`
}

// DiffReport compares two environments.
type DiffReport struct {
	EnvA    string     `json:"env_a"`
	EnvB    string     `json:"env_b"`
	Facts   []FactDiff `json:"facts"`
	Differs bool       `json:"differs"`
}

// Differ collects and compares consistency facts. Package steps implements
// it; the walker calls it for diff steps and the cli for `runbook diff`.
type Differ interface {
	// Diff collects every consistency fact from every host of envA and envB
	// (files read over SFTP or locally, commands run) and compares them.
	// out, when not nil, receives progress lines. An error means the facts
	// could not be collected at all (a host unreachable); a fact that is
	// missing or failing on a host is a difference inside the report.
	// It changes nothing on any host.
	Diff(ctx context.Context, envA, envB string, out io.Writer) (*DiffReport, error)
}

// ChAccept is the failure-prompt choice that accepts a difference.
const ChAccept = "Accept the difference"

// errDiffers fails a diff step; the failure prompt offers ChAccept for it.
type errDiffers struct{ n int }

func (e *errDiffers) Error() string {
	return fmt.Sprintf("%d consistency fact(s) differ between the environments", e.n)
}

// diffStep compares the step's two environments and records the result.
// A difference fails the step unless it was accepted (--accept-diff, or
// the failure prompt) with a reason, which is recorded as a deviation.
func (w *Walker) diffStep(ctx context.Context, s *Step, sr *StepRun) error {
	if w.Differ == nil {
		return fmt.Errorf("step %s: no way to collect facts in this build", s.Name)
	}
	out := w.UI.HostOutput(s, "diff")
	rep, err := w.Differ.Diff(ctx, s.Diff[0], s.Diff[1], out)
	out.Close()
	if err != nil {
		if ctx.Err() != nil {
			return WithHint(ErrInterrupted, "state saved; `runbook resume` compares again")
		}
		return fmt.Errorf("step %s: collect facts: %w", s.Name, err)
	}
	b, _ := json.Marshal(rep)
	w.note(ctx, "diff", s.Name, "", string(b))
	n := 0
	for _, f := range rep.Facts {
		if !f.Agree {
			n++
			w.UI.Warn(fmt.Sprintf("%s %s differs:\n%s", f.Kind, f.Fact, w.Masker.Mask(describeVariants(f))))
		}
	}
	if n == 0 {
		w.UI.Detail(fmt.Sprintf("%d fact(s) agree between %s and %s", len(rep.Facts), rep.EnvA, rep.EnvB))
		return nil
	}
	if reason, ok := w.AcceptDiff[s.Name]; ok && strings.TrimSpace(reason) != "" {
		w.note(ctx, "deviation", s.Name, "", fmt.Sprintf("accepted %d differing fact(s): %s", n, reason))
		w.UI.Warn(fmt.Sprintf("%d differing fact(s) accepted with --accept-diff: %s", n, reason))
		return nil
	}
	return &errDiffers{n: n}
}

func describeVariants(f FactDiff) string {
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
