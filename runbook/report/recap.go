package report

import (
	"fmt"
	"io"
	"reflect"
	"text/tabwriter"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// RecapRecord is what the recap at the end of start, resume and rollback
// shows: the release the command walked, its steps as recorded when it
// ended, and when that was.
type RecapRecord struct {
	Release *runbook.Release
	Steps   []*runbook.StepRun
	// Now ends the elapsed time of a release still unfinished (paused,
	// failed).
	Now time.Time
}

// hostTally is one host's line of the recap.
type hostTally struct {
	host                                                   string
	ok, changed, failed, skipped, undone, interrupted, ran int
	ms                                                     int64
}

// Recap writes the end-of-run recap, as Ansible's PLAY RECAP: every step
// with its state and time, then every host with what its runs came to —
// ok (succeeded), changed (of those, the ones that changed the host:
// commands, which runbook cannot look into, uploads that sent the
// artifact, switches of current), failed, skipped, and undone or
// interrupted when any run was — and the time they took, under a line
// with the release's state and its elapsed time.
func Recap(w io.Writer, rec RecapRecord, st Style) error {
	var safe RecapRecord
	safeCopy(reflect.ValueOf(&safe).Elem(), reflect.ValueOf(rec), "")
	rec = safe
	out := &stickyWriter{w: w}
	r := rec.Release
	end, verb := r.FinishedAt, "in"
	if end.IsZero() {
		end, verb = rec.Now, "after"
	}
	what := fmt.Sprintf("%s %s", r.Kind, r.Version)
	if r.Kind == runbook.KindRollback {
		what = "rollback to " + r.Version
	}
	out.printf("\n%s %s (#%d) %s %s %s\n", st.bold("RECAP"), st.bold(what), r.ID, st.state(string(r.State)), verb, duration(end.Sub(r.StartedAt).Milliseconds()))

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	var hosts []*hostTally
	byHost := map[string]*hostTally{}
	for _, s := range rec.Steps {
		took := "-"
		if !s.StartedAt.IsZero() && !s.FinishedAt.IsZero() && s.State != runbook.RunPending {
			took = duration(s.FinishedAt.Sub(s.StartedAt).Milliseconds())
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.Name, padState(st, string(s.State), 11), st.faint(string(s.Kind)), took)
		for _, h := range s.Hosts {
			t := byHost[h.Host]
			if t == nil {
				t = &hostTally{host: h.Host}
				byHost[h.Host] = t
				hosts = append(hosts, t)
			}
			t.add(s, h)
		}
	}
	_ = tw.Flush()
	if len(hosts) == 0 {
		return out.err
	}
	extra := func(f func(*hostTally) int) bool {
		for _, t := range hosts {
			if f(t) > 0 {
				return true
			}
		}
		return false
	}
	undone := extra(func(t *hostTally) int { return t.undone })
	interrupted := extra(func(t *hostTally) int { return t.interrupted })
	out.printf("\n")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, t := range hosts {
		line := fmt.Sprintf("  %s\tok=%d\tchanged=%d\tfailed=%d\tskipped=%d", t.host, t.ok, t.changed, t.failed, t.skipped)
		if undone {
			line += fmt.Sprintf("\tundone=%d", t.undone)
		}
		if interrupted {
			line += fmt.Sprintf("\tinterrupted=%d", t.interrupted)
		}
		took := "-"
		if t.ran > 0 {
			took = duration(t.ms)
		}
		line += "\t" + took
		if t.failed > 0 || t.interrupted > 0 {
			line = st.warn(line)
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
	return out.err
}

// add counts host run h of step s.
func (t *hostTally) add(s *runbook.StepRun, h *runbook.HostRun) {
	if h.Attempts > 0 {
		t.ran++
		t.ms += h.DurationMS
	}
	switch h.State {
	case runbook.RunSucceeded:
		t.ok++
		if changed(s, h) {
			t.changed++
		}
	case runbook.RunFailed, runbook.RunUndoFailed:
		t.failed++
	case runbook.RunSkipped:
		t.skipped++
	case runbook.RunUndone:
		t.undone++
	case runbook.RunInterrupted, runbook.RunRunning, runbook.RunUndoing:
		t.interrupted++
	}
}

// changed reports whether a succeeded host run changed its host, as far
// as the record tells: a command may have (runbook cannot look into it,
// and counts it, as Ansible counts its shell tasks); an upload did unless
// the release was already staged; a switch did unless current already
// pointed at the release; a probe never does.
func changed(s *runbook.StepRun, h *runbook.HostRun) bool {
	d := runbook.ParseDetail(h.Detail)
	switch s.Kind {
	case runbook.KindProbe:
		return false
	case runbook.KindUpload:
		return !d.Skipped
	case runbook.KindActivate:
		return d.Version == "" || d.Version != d.Previous
	}
	return true
}
