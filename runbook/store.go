package runbook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ReleaseState is a state of the release machine (SPEC §4).
type ReleaseState string

// Release states.
const (
	ReleasePlanned     ReleaseState = "planned"
	ReleaseRunning     ReleaseState = "running"
	ReleasePaused      ReleaseState = "paused"
	ReleaseFailed      ReleaseState = "failed"
	ReleaseSucceeded   ReleaseState = "succeeded"
	ReleaseRollingBack ReleaseState = "rolling_back"
	ReleaseRolledBack  ReleaseState = "rolled_back"
	// ReleaseRollbackFailed: an undo, or a restart or verify after a
	// switch back, failed; `runbook rollback` retries what is left.
	ReleaseRollbackFailed ReleaseState = "rollback_failed"
	ReleaseAborted        ReleaseState = "aborted"
)

// Finished reports whether no more work will happen in this release state
// without the operator starting something new (rollback, --again).
func (s ReleaseState) Finished() bool {
	return s == ReleaseSucceeded || s == ReleaseRolledBack || s == ReleaseAborted
}

// RunState is a state of the step and host-run machine (SPEC §4).
type RunState string

// Step and host-run states.
const (
	RunPending     RunState = "pending"
	RunRunning     RunState = "running"
	RunSucceeded   RunState = "succeeded"
	RunFailed      RunState = "failed"
	RunSkipped     RunState = "skipped"
	RunInterrupted RunState = "interrupted"
	RunUndoing     RunState = "undoing"
	RunUndone      RunState = "undone"
	RunUndoFailed  RunState = "undo_failed"
)

// Release kinds.
const (
	KindRelease  = "release"
	KindRollback = "rollback"
)

// Release is one recorded release (or rollback) of a version.
type Release struct {
	ID      int64
	Version string
	Kind    string // KindRelease or KindRollback
	State   ReleaseState
	// Operator is who started it: --operator (RUNBOOK_OPERATOR), else
	// the OS user; OSUser is the OS account runbook ran as, kept beside
	// it (a shared build account names nobody).
	Operator       string
	OSUser         string
	Machine        string // hostname of the operator machine
	StartedAt      time.Time
	FinishedAt     time.Time // zero while unfinished
	RunbookName    string
	RunbookFile    string
	RunbookHash    string
	ArtifactPath   string
	ArtifactSHA256 string
	// ArtifactSize is the size in bytes of the artifact ArtifactSHA256
	// names, recorded with it; 0 when unknown (a release recorded before
	// runbook kept it). The engine reads it to know, before an artifact
	// is hashed, that it cannot be the one another release shipped.
	ArtifactSize int64
	// Envs lists the environments a rollback --to release switched; empty for releases.
	Envs []string
}

// StepRun is the record of one step within a release.
type StepRun struct {
	ID         int64
	ReleaseID  int64
	Index      int
	Name       string
	Kind       StepKind
	Env        string
	State      RunState
	Attempts   int
	StartedAt  time.Time
	FinishedAt time.Time
	Reason     string // last reason given for skip, mark done, accept, ...
	Hosts      []*HostRun
}

// HostRun is the record of one step on one host.
type HostRun struct {
	ID         int64
	StepRunID  int64
	Host       string
	State      RunState
	Attempts   int
	ExitCode   int    // -1 while unknown
	Token      string // release:step:attempt:host of the current attempt
	StartedAt  time.Time
	FinishedAt time.Time
	DurationMS int64
	OutputTail string // masked tail of the output
	// Detail holds what a step kind records for later: the uploaded sha256,
	// the previous target of current, probe latencies. JSON text.
	Detail string
}

// ReasonOperatorStopped begins the reason of every transition that the
// operator's Ctrl-C caused, so that readers of the record (the report's
// timeline) can tell a run the operator stopped from one whose end
// nobody saw (a crash, a dropped connection).
const ReasonOperatorStopped = "interrupted by the operator"

// Transition is one committed row of the history of a state machine.
type Transition struct {
	ID        int64
	At        time.Time
	ReleaseID int64
	StepRunID int64 // 0 for release transitions
	HostRunID int64 // 0 for release and step transitions
	Scope     string
	From, To  string
	Event     string
	Operator  string // who was at the keyboard (--operator, else the OS user)
	OSUser    string // the OS account runbook ran as
	// Machine is the operator machine that committed the transition: with
	// a shared store, a release may be walked from more than one.
	Machine string
	Reason  string
	// Hash chains the transition to the one committed before it in the
	// store (audit.go): the store computes it when it inserts the row.
	Hash string
}

// Signoff records that a person took responsibility for a confirm step.
type Signoff struct {
	ReleaseID int64
	Step      string
	Role      string
	Name      string
	Operator  string // who ran runbook (--operator, else the OS user)
	OSUser    string // the OS account runbook ran as
	At        time.Time
	Via       string // "prompt", "--signoff" or "--yes"
}

// Live says which version one host of an environment runs.
type Live struct {
	Env       string
	Host      string
	Version   string
	Previous  string
	ReleaseID int64
	At        time.Time
	// VerifiedAt is when a verify after the switch to Version passed on
	// the host (a restart step's, or a rollback's restart); zero while
	// current points to Version and nothing has shown it running.
	VerifiedAt time.Time
}

// Staged records a version staged on a host with its checksum.
type Staged struct {
	Env       string
	Host      string
	Version   string
	SHA256    string
	ReleaseID int64
	At        time.Time
	Removed   bool
}

// Note is a free-form recorded fact about a release: a deviation (skip with
// reason, mark done, accepted diff), a warning on resume (runbook changed),
// a lock recovered from a dead holder, a diff or probe result.
type Note struct {
	ID        int64
	ReleaseID int64
	At        time.Time
	Kind      string // "deviation", "warning", "diff", "probe", "resume", "lock", "handover"
	Step      string
	Host      string
	Text      string
	Operator  string // who was at the keyboard (--operator, else the OS user)
	OSUser    string // the OS account runbook ran as
}

// Operation is an ad-hoc command run outside a release (runbook op,
// runbook exec, the panel, an environment lock removed by unlock), kept
// so the night's log shows everything done to the hosts.
type Operation struct {
	ID         int64
	Env        string
	Host       string
	Name       string // the operation name, "exec" for an ad-hoc command, "unlock" for a lock removed
	Command    string // masked
	ExitCode   int
	StartedAt  time.Time
	FinishedAt time.Time
	Operator   string // who was at the keyboard (--operator, else the OS user)
	OSUser     string // the OS account runbook ran as
	OutputTail string // masked
}

// Holder names the process that holds the release lock.
type Holder struct {
	User    string
	Machine string
	PID     int
	Version string
	Command string
	Since   time.Time
}

// LockedError is returned by Store.Lock when a live process holds the lock.
type LockedError struct{ Holder Holder }

func (e *LockedError) Error() string {
	h := e.Holder
	return fmt.Sprintf("the state is locked by %s on %s (pid %d, %s) since %s",
		h.User, h.Machine, h.PID, strings.TrimSpace(h.Command+" "+h.Version), h.Since.UTC().Format(time.RFC3339))
}

// RecordError is a write to the Store that failed (a full disk, an I/O
// error): the transition it carried is not recorded, and the record stays
// as it was last committed. A walk stopped by one records nothing more
// about the step it was in: the next record would fail the same way, or
// worse, blame the step for the database (a host run left running on disk
// is settled by its markers on resume, which is the truth).
type RecordError struct{ Err error }

func (e *RecordError) Error() string { return e.Err.Error() }
func (e *RecordError) Unwrap() error { return e.Err }

// NotRecorded marks err, from a Store write, as a RecordError (once).
func NotRecorded(err error) error {
	if err == nil {
		return nil
	}
	var re *RecordError
	if errors.As(err, &re) {
		return err
	}
	return &RecordError{Err: err}
}

// ErrNotFound is returned by Store lookups that find nothing.
var ErrNotFound = errors.New("not found")

// RunMove is what RecordRuns records of one run: the step run's row and
// its transition, the host run's row and its transition; either half may
// be nil, and a transition is filled as RecordStep and RecordHost fill
// theirs.
type RunMove struct {
	Step  *StepRun
	StepT *Transition
	Host  *HostRun
	HostT *Transition
}

// Store is the durable record of releases. Package state implements it with
// SQLite, package state/postgres with PostgreSQL, and one conformance
// suite (state/storetest) holds both to this contract. Every write commits
// one transaction before it returns, so a transition is on disk before the
// work it describes starts; a write that fails leaves the record as it was
// (a *RecordError for the engine, see NotRecorded). Times are kept to the
// microsecond at least, in UTC. Writes ignore the cancellation of their
// context: the record most worth keeping is the one written right after
// the operator pressed Ctrl-C.
type Store interface {
	// Lock takes the exclusive release lock for this process. It fails at
	// once with an error wrapping *LockedError naming the holder when a live
	// process holds it; a lock left by a dead process is taken over (the
	// returned recovered holder is non-nil then, for the record). The
	// returned unlock is idempotent. The lock dies with its holder: the
	// kernel frees a file lock when the process dies, PostgreSQL an
	// advisory lock when its connection does.
	Lock(h Holder) (unlock func(), recovered *Holder, err error)

	// Holder names the holder of the release lock as its record says, and
	// whether it may still be walking a release (held); held is false when
	// nobody holds the lock or its holder is provably gone. Read-only, takes
	// no lock, works on a store opened read-only: `runbook logs -f` asks it
	// to tell a release being walked from one whose process died.
	Holder(ctx context.Context) (h Holder, held bool, err error)

	// StoreID returns the id drawn once when the database was created.
	// Copies of it share it; two databases never do. An environment lock
	// names it, so that a release finds its own lock again from any
	// machine that shares the store.
	StoreID(ctx context.Context) (string, error)

	// CreateRelease inserts r (ID filled) with its steps and their host runs
	// (IDs filled) in one transaction, plus the creation transition t. A zero
	// r.StartedAt is set to now. Every transition a Store inserts, here and
	// in the Record* methods, gets the next id, a zero At set to now, the
	// ids of its subject filled where zero, and its Hash chained to the
	// transition inserted before it (ChainHash): one chain per store, in
	// commit order, which Chain returns and VerifyChain checks.
	CreateRelease(ctx context.Context, r *Release, steps []*StepRun, t Transition) error
	// RecordRelease updates r's row (state, finished_at, envs) and, when t is
	// non-nil, inserts t in the same transaction.
	RecordRelease(ctx context.Context, r *Release, t *Transition) error
	// RecordStep updates the step run row (not its hosts) and inserts t when non-nil.
	RecordStep(ctx context.Context, s *StepRun, t *Transition) error
	// RecordHost updates the host run row and inserts t when non-nil.
	RecordHost(ctx context.Context, h *HostRun, t *Transition) error
	// RecordRuns is RecordStep and RecordHost for every move, in order, in
	// one transaction: all of them are recorded or none. The engine moves
	// a step with its only host run in one commit, and commits a step's
	// success with the start of the next (engine/carry.go).
	RecordRuns(ctx context.Context, moves ...RunMove) error
	// AddSignoff records a sign-off.
	AddSignoff(ctx context.Context, s Signoff) error
	// AddNote records a note and fills its ID.
	AddNote(ctx context.Context, n *Note) error
	// SetLive records that host of env now runs version (replacing the
	// previous row, not verified: l.VerifiedAt is ignored).
	SetLive(ctx context.Context, l Live) error
	// VerifyLive records that version passed a verify on host of env at
	// at. It changes nothing when the host's live row is of another
	// version (the verify was of a release no longer live).
	VerifyLive(ctx context.Context, env, host, version string, at time.Time) error
	// AddStaged records (or replaces) a staged version on a host; Removed marks it gone.
	AddStaged(ctx context.Context, s Staged) error
	// AddOperation records an operation that ran on one host.
	AddOperation(ctx context.Context, op Operation) error

	// LockReleases records the deliberate lock l (runbook lock --message):
	// while it stands, no release starts or resumes. A zero l.At is set to
	// now. When a lock stands already it is left as it is, and
	// *DeployLockedError names it.
	LockReleases(ctx context.Context, l DeployLock) error
	// DeployLock returns the deliberate lock, or nil, nil when there is none.
	DeployLock(ctx context.Context) (*DeployLock, error)
	// UnlockReleases removes the deliberate lock and returns it; nil, nil
	// when there was none.
	UnlockReleases(ctx context.Context) (*DeployLock, error)

	// Release returns the release with this id, or ErrNotFound.
	Release(ctx context.Context, id int64) (*Release, error)
	// Releases returns every release, oldest first.
	Releases(ctx context.Context) ([]*Release, error)
	// Unfinished returns the release that is not finished (planned, running,
	// paused, failed, rolling_back), or nil, nil when there is none.
	Unfinished(ctx context.Context) (*Release, error)
	// Steps returns the step runs of a release in order, hosts filled in.
	Steps(ctx context.Context, releaseID int64) ([]*StepRun, error)
	// Transitions returns the transitions of a release in commit order.
	Transitions(ctx context.Context, releaseID int64) ([]Transition, error)
	// Signoffs returns the sign-offs of a release in order.
	Signoffs(ctx context.Context, releaseID int64) ([]Signoff, error)
	// Notes returns the notes of a release in order.
	Notes(ctx context.Context, releaseID int64) ([]Note, error)
	// LiveVersions returns the live version of every host ever activated.
	LiveVersions(ctx context.Context) ([]Live, error)
	// StagedVersions returns what was staged on the hosts, newest first.
	StagedVersions(ctx context.Context) ([]Staged, error)
	// Operations returns every recorded operation, oldest first.
	Operations(ctx context.Context) ([]Operation, error)
	// Chain returns every transition of every release, Hash included, in
	// commit order: the audit chain, as stored, for VerifyChain.
	Chain(ctx context.Context) ([]Transition, error)

	// Close releases the database. It does not release the lock.
	Close() error
}

// FilledMoves copies into the transitions of moves what a Store filled in
// (ids, times, hashes), from filled, once its transaction committed: a
// Store fills copies, so that a write that fails leaves its caller's
// transitions as they were.
func FilledMoves(moves, filled []RunMove) {
	for i, m := range moves {
		if m.StepT != nil {
			*m.StepT = *filled[i].StepT
		}
		if m.HostT != nil {
			*m.HostT = *filled[i].HostT
		}
	}
}

// DescribeMoves names the runs of moves for an error message.
func DescribeMoves(moves []RunMove) string {
	var names []string
	for _, m := range moves {
		switch {
		case m.Step != nil && m.Host != nil:
			names = append(names, fmt.Sprintf("step %s on %s", m.Step.Name, m.Host.Host))
		case m.Step != nil:
			names = append(names, "step "+m.Step.Name)
		case m.Host != nil:
			names = append(names, fmt.Sprintf("host run %s (%d)", m.Host.Host, m.Host.ID))
		}
	}
	return "record " + strings.Join(names, " and ")
}
