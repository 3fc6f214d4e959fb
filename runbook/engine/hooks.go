package engine

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// The hooks of the runbook (SPEC §3.7) run when the release reaches their
// moment: on_start before its first step, the others once the command
// that got it there is done walking (so that they follow the walk's last
// line). A hook is the team's own script: one that fails, hangs past its
// timeout or cannot start is reported and noted, and changes nothing of
// the release.

// pendingHook is a hook whose moment came, with the facts of that moment.
type pendingHook struct {
	hook *runbook.Hook
	data runbook.TemplateData
	env  map[string]string
}

// releaseMoved is told of every release transition this command
// committed: it marks the command as one that walked a release, and
// queues the hook the new state calls for.
func (n *night) releaseMoved(ctx context.Context, from, to runbook.ReleaseState, event, reason string) {
	n.e.walked = true
	r := n.rel()
	name := hookFor(r.Kind, to, event)
	h := n.rb.Hook(name)
	if h == nil {
		return
	}
	step := ""
	if name == runbook.HookOnFailure {
		if sr := firstFailed(n.steps); sr != nil {
			step = sr.Name
		}
	}
	p := pendingHook{hook: h, env: runbook.HookFacts(name, n.rb, r, step, n.cfg.Operator, n.cfg.Machine, n.cfg.Masker.Mask(reason)),
		data: runbook.TemplateData{
			Version:  r.Version,
			Release:  runbook.TemplateRelease{ID: r.ID, StartedAt: r.StartedAt.UTC().Format(time.RFC3339)},
			Artifact: runbook.TemplateArtifact{Name: n.rb.Artifact.Name, SHA256: n.artifact},
		}}
	if name == runbook.HookOnStart {
		n.e.runHook(ctx, n.rec, p) // before the first step
		return
	}
	n.e.hooks = append(n.e.hooks, hookRun{rec: n.rec, p: p})
}

// hookFor names the hook a release of kind reaching state to by event
// calls for, "" for none. A rollback --to (kind rollback) calls only
// on_rollback, when it ends either way.
func hookFor(kind string, to runbook.ReleaseState, event string) string {
	switch {
	case kind == runbook.KindRollback && (to == runbook.ReleaseSucceeded || to == runbook.ReleaseFailed):
		return runbook.HookOnRollback
	case kind == runbook.KindRollback:
		return ""
	case event == runbook.EvStart:
		return runbook.HookOnStart
	case to == runbook.ReleaseSucceeded:
		return runbook.HookOnSuccess
	case to == runbook.ReleaseFailed:
		return runbook.HookOnFailure
	case to == runbook.ReleaseRolledBack || to == runbook.ReleaseRollbackFailed:
		return runbook.HookOnRollback
	}
	return ""
}

func firstFailed(steps []*runbook.StepRun) *runbook.StepRun {
	for _, sr := range steps {
		if sr.State == runbook.RunFailed {
			return sr
		}
	}
	return nil
}

// hookRun is a queued hook and the recorder of its release (for its note).
type hookRun struct {
	rec *recorder
	p   pendingHook
}

// afterWalk runs the hooks the command queued, in the order their moments
// came, and passes err on: a hook never changes how a command ends.
func (e *Engine) afterWalk(ctx context.Context, err error) error {
	// What the walk still carries is committed before anything else
	// reads the record (a hook, the cli's recap).
	if ferr := e.carrier.Flush(ctx); ferr != nil && err == nil {
		err = runbook.NotRecorded(ferr)
	}
	queued := e.hooks
	e.hooks = nil
	for _, q := range queued {
		e.runHook(ctx, q.rec, q.p)
	}
	return err
}

// runHook runs one hook and reports how it went; a hook that did not pass
// is noted with the release.
func (e *Engine) runHook(ctx context.Context, rec *recorder, p pendingHook) {
	h := p.hook
	if e.cfg.Hooks == nil {
		e.cfg.UI.Warn(fmt.Sprintf("hook %s was not run: nothing runs hooks in this command", h.Name))
		return
	}
	var secret func(string) (string, error)
	if e.cfg.Secrets != nil {
		secret = e.cfg.Secrets.Secret
	}
	failed := func(why string) {
		msg := fmt.Sprintf("hook %s %s; the release is not affected", h.Name, why)
		e.cfg.UI.Warn(msg)
		rec.note(ctx, "hook", "", "", msg)
	}
	cmd, err := runbook.Render(h.Run, p.data, secret)
	if err != nil {
		failed("was not run: " + err.Error())
		return
	}
	// Shown like a host's output, terminal-safe and masked; its last line
	// is kept, as shown, for the warning.
	ui := e.cfg.UI.HostOutput(&runbook.Step{Name: h.Name, Kind: "hook"}, h.Name)
	var tail lastLine
	out := runbook.NewTermSafeWriter(e.cfg.Masker.Writer(&teeLine{w: ui, last: &tail}))
	code, err := e.cfg.Hooks.Hook(ctx, runbook.HookCall{Hook: h, Command: cmd, Env: p.env, Out: out})
	_ = out.Close()
	_ = ui.Close()
	last := tail.String()
	switch {
	case err != nil:
		failed(fmt.Sprintf("did not finish (%v)%s", err, orNothing(": ", last)))
	case code != 0:
		failed(fmt.Sprintf("failed (exit %d)%s", code, orNothing(": ", last)))
	default:
		e.cfg.UI.Detail(fmt.Sprintf("hook %s done", h.Name))
	}
}

func orNothing(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

// teeLine passes output on and keeps its last line.
type teeLine struct {
	w    io.Writer
	last *lastLine
}

func (t *teeLine) Write(p []byte) (int, error) {
	t.last.add(p)
	return t.w.Write(p)
}

// lastLine keeps the last non-empty line written, at most 200 bytes.
type lastLine struct{ cur, done []byte }

func (l *lastLine) add(p []byte) {
	for _, b := range p {
		if b == '\n' {
			if strings.TrimSpace(string(l.cur)) != "" {
				l.done = append(l.done[:0], l.cur...)
			}
			l.cur = l.cur[:0]
			continue
		}
		if len(l.cur) < 200 {
			l.cur = append(l.cur, b)
		}
	}
}

func (l *lastLine) String() string {
	if s := strings.TrimSpace(string(l.cur)); s != "" {
		return runbook.TermSafeLine(s)
	}
	return runbook.TermSafeLine(strings.TrimSpace(string(l.done)))
}
