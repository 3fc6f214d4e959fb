package runbook

import (
	"context"
	"errors"
	"io"
	"time"
)

// Call is one action of one step on one host, with every template already
// rendered (and every secret resolved) by the engine.
type Call struct {
	Release *Release
	Step    *Step
	Host    *Host
	Token   string // release:step:attempt:host, names the markers of this run
	Attempt int
	// Since is when the intent of the run under Token was committed, for
	// Settle: a host that restarted after it may have lost the markers
	// that would show the run started. Zero when unknown.
	Since time.Time
	Data  TemplateData
	// ArtifactSHA256, set only for an upload whose artifact is still
	// being hashed (Data.Artifact.SHA256 is then ""), waits for the
	// artifact's checksum of record and returns it, or ctx's error, or
	// why the artifact may not be shipped. Safe to call from every host
	// run at once, any number of times. The executor may start the copy
	// before it, but must have the sum, and the copy verified against
	// it, before it renames anything into place: the engine records the
	// sum before it returns it.
	ArtifactSHA256 func(ctx context.Context) (string, error)

	Command string            // the rendered action command (run, op); "" for built-ins
	Verify  string            // rendered verify command, "" for none
	Check   string            // rendered check command, "" for none
	Undo    string            // rendered undo command, "" for none
	Env     map[string]string // rendered environment variables
	Out     io.Writer         // the host's output: masked, logged, shown
	// SudoPassword is the value of the step's sudo_password, resolved
	// from the vault: it answers sudo's prompt on the terminal of a step
	// with tty, and goes nowhere else (not in Env). "" for none.
	SudoPassword string

	// Staged lists the versions the store records as staged on Host and
	// not removed, oldest release first (by the release record, never by
	// the host's clock). They are the only candidates of an activate
	// step's keep cleanup: nil removes nothing.
	Staged []string
}

// ArtifactSum returns the artifact's checksum of record: Data's, or the
// one ArtifactSHA256 waits for. "" and no error when the call has
// neither (a step that stages nothing).
func (c *Call) ArtifactSum(ctx context.Context) (string, error) {
	if c.Data.Artifact.SHA256 != "" || c.ArtifactSHA256 == nil {
		return c.Data.Artifact.SHA256, nil
	}
	return c.ArtifactSHA256(ctx)
}

// Outcome is what one host run produced.
type Outcome struct {
	ExitCode int
	// Detail is JSON recorded with the host run for later commands
	// (uploaded sha256, previous version of current, probe latencies).
	Detail string
	// Summary is a short line shown after the host run ("skipped: already staged").
	Summary string
}

// SettleState is what the markers on a host say about an interrupted run.
type SettleState int

// Settle states (DESIGN "Resume exactly" step 4).
const (
	SettleNeverStarted SettleState = iota
	SettleRunning
	SettleFinished
	SettleInDoubt
)

// Settlement is the evidence found for an interrupted host run.
type Settlement struct {
	State    SettleState
	ExitCode int
}

// Executor performs the host-side work of steps. Package steps implements
// it; the engine is its only caller and calls it for one host at a time per
// host (calls for different hosts may run concurrently).
type Executor interface {
	// Do performs the step's action on c.Host. A nil error with ExitCode 0
	// is success; a non-zero ExitCode is a failure of the action. An error
	// wrapping ErrInDoubt means the action may have happened; other errors
	// mean it did not start (or a built-in action failed part-way in a way
	// that is safe to retry: built-ins are idempotent).
	Do(ctx context.Context, c *Call) (Outcome, error)
	// Verify runs c.Verify once and returns its exit status: 0 passed
	// (also when there is no verify). An error means it did not run to an
	// end (unreachable, in doubt, timed out).
	Verify(ctx context.Context, c *Call) (exitCode int, err error)
	// Check runs c.Check once; ok reports that the step's effect is in place.
	Check(ctx context.Context, c *Call) (ok bool, err error)
	// Undo reverses the step on c.Host: c.Undo for commands, built-in for
	// upload and activate (detail is the Detail recorded by Do). Must be
	// safe to repeat.
	Undo(ctx context.Context, c *Call, detail string) (Outcome, error)
	// Settle reads the markers of c.Token; it never runs the action.
	Settle(ctx context.Context, c *Call) (Settlement, error)
	// Wait reattaches to a run that Settle found running.
	Wait(ctx context.Context, c *Call) (Outcome, error)
	// Forget drops the markers of c.Token once its outcome is committed.
	Forget(ctx context.Context, c *Call)
	// Describe says in one line what step s of rb does for release
	// version (Show details); "" when its command says it. Pure.
	Describe(rb *Runbook, s *Step, version string) string
	// Changes says what step s of rb changes, for the undo policy of a
	// rollback (see Change). Pure.
	Changes(rb *Runbook, s *Step) Change
	// Close ends every connection. Idempotent.
	Close() error
}

// HookCall is one run of a hook of the runbook (Runbook.Hooks).
type HookCall struct {
	Hook    *Hook
	Command string            // rendered, secrets resolved
	Env     map[string]string // the release facts (HookFacts)
	Out     io.Writer         // the hook's output: terminal-safe, masked
}

// HookRunner runs the runbook's hooks. package steps implements it.
type HookRunner interface {
	// Hook runs c.Command through sh on the operator's machine, in the
	// runbook file's directory, with c.Env added to runbook's environment
	// less its own RUNBOOK_* variables, its output (stdout and stderr) to
	// c.Out, ended after c.Hook.Timeout. It returns the command's exit
	// status; an error means it did not run to an end (it could not
	// start, timed out, or ctx was cancelled).
	Hook(ctx context.Context, c HookCall) (exitCode int, err error)
}

// Prompter asks the operator. The cli implements it with survey; tests
// script it. Every method returns ErrNoTerminal when nobody can be asked and
// ErrPromptInterrupted when the operator pressed Ctrl-C at the prompt.
type Prompter interface {
	// Select shows options and returns the chosen one (def is preselected).
	Select(msg string, options []string, def string) (string, error)
	// Input asks for a line of text; an empty answer returns def.
	Input(msg, def string) (string, error)
}

// Prompt errors.
var (
	ErrNoTerminal        = errors.New("no terminal to ask the operator")
	ErrPromptInterrupted = errors.New("interrupted at a prompt")
)

// UI shows the walk to the operator. The cli implements it with colour.
type UI interface {
	// StepHeader announces step i (0-based) of n before its prompt or run.
	StepHeader(i, n int, s *Step, sr *StepRun)
	// Batch announces the hosts of step s about to run, before any of
	// them starts: the step's rolling batch b (a step without serial
	// has one batch of all its hosts). A batch with nothing left to run
	// is not announced.
	Batch(s *Step, b HostBatch)
	// HostOutput returns a writer for the live output of one host run; the
	// engine closes it when the run ends.
	HostOutput(s *Step, host string) io.WriteCloser
	// HostDone reports how one host run ended.
	HostDone(s *Step, hr *HostRun, summary string)
	// StepDone reports how a step ended.
	StepDone(s *Step, sr *StepRun)
	// Info, Warn and Detail print a line of the walk.
	Info(msg string)
	Warn(msg string)
	Detail(msg string)
}

// HostBatch is one rolling batch of a step's hosts (SPEC §3.6).
type HostBatch struct {
	Index, Count int      // the Index-th batch (from 1) of Count
	Hosts        []string // the hosts of the batch that run now
	Total        int      // the step's hosts, in every batch, done or not
	Done         int      // the step's hosts succeeded or skipped before the batch starts
}

// StagedChecker reads what is staged on a host. steps.Executor implements
// it; rollback --to uses it to prove the target is intact before it
// touches anything.
type StagedChecker interface {
	// StagedSHA256 hashes deploy_dir/releases/<version>/<artifact> on h; an
	// error wrapping fs.ErrNotExist means it is not there. Read-only.
	StagedSHA256(ctx context.Context, h *Host, version string) (string, error)
}

// Warmer opens, ahead of a step's host runs, what they will need from the
// hosts (connections), while the engine does something else first (hashes
// the artifact for an upload). steps.Executor implements it.
type Warmer interface {
	// Warm starts opening what step s needs on hosts and returns at once.
	// It changes nothing on a host and asks the operator nothing (a host
	// key nobody trusted yet is left to the host run, which asks); what
	// it cannot open, the host run reports.
	Warm(ctx context.Context, s *Step, hosts []*Host)
}

// Secrets resolves secret references; nil means the runbook uses none.
type Secrets interface {
	// Secret returns the value of a vault secret; the value is registered
	// with the masker before it is returned.
	Secret(name string) (string, error)
}

// Masker hides every resolved secret from anything written.
type Masker interface {
	Mask(s string) string
	// Writer wraps w; Close flushes what was held back, not w.
	Writer(w io.Writer) io.WriteCloser
}

// Walk outcomes the cli maps to exit codes (SPEC §2).
var (
	// ErrStepFailed: a step failed and the release stopped (exit 1).
	ErrStepFailed = errors.New("step failed")
	// ErrNeedsHuman: a decision is needed and none could be asked (exit 3).
	ErrNeedsHuman = errors.New("a human decision is needed")
	// ErrInterrupted: the operator pressed Ctrl-C; state saved (exit 130).
	ErrInterrupted = errors.New("interrupted")
	// ErrInDoubt: an action may or may not have happened.
	ErrInDoubt = errors.New("outcome in doubt")
	// ErrUnfinished: another release is unfinished (exit 4).
	ErrUnfinished = errors.New("another release is unfinished")
	// ErrNothingToDo: resume found nothing to resume, or a command
	// nothing to act on (exit 2). NothingToDo words it for the command.
	ErrNothingToDo = errors.New("nothing to resume")
	// ErrUsage: the command line or the runbook is wrong (exit 2).
	ErrUsage = errors.New("usage")
	// ErrPaused: the operator chose to pause at a prompt (exit 0).
	ErrPaused = errors.New("paused by the operator")
	// ErrAborted: the operator aborted the release at a prompt (exit 1).
	ErrAborted = errors.New("aborted by the operator")
)

// NothingToDo is ErrNothingToDo in the words of the command that found
// nothing to act on: what ("nothing to abort", "nothing recorded yet") and
// why. errors.Is(err, ErrNothingToDo) holds.
func NothingToDo(what, why string) error { return &nothingError{msg: what + ": " + why} }

type nothingError struct{ msg string }

func (e *nothingError) Error() string        { return e.msg }
func (e *nothingError) Is(target error) bool { return target == ErrNothingToDo }

// HintError carries an error and a next step for the operator.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }

// WithHint wraps err with a hint line shown as "runbook: hint: ...".
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &HintError{Err: err, Hint: hint}
}
