package report

import (
	"time"

	"github.com/runbook-dev/runbook/runbook"
)

// Input is everything recorded about one release that its report shows.
// The cli reads it from the state database; Build only arranges it.
type Input struct {
	Release     *runbook.Release
	Steps       []*runbook.StepRun
	Transitions []runbook.Transition
	Signoffs    []runbook.Signoff
	Notes       []runbook.Note
	// Live is the live version of every host now; Staged what was staged,
	// of which the report keeps what this release staged or removed.
	Live   []runbook.Live
	Staged []runbook.Staged
	// Rollbacks are the `rollback --to` releases that switched hosts back
	// after this release, with their steps.
	Rollbacks []Rollback
}

// Rollback is a release of kind rollback with its step runs and transitions.
type Rollback struct {
	Release     *runbook.Release
	Steps       []*runbook.StepRun
	Transitions []runbook.Transition
}

// Doc is the post-release report: the JSON of `runbook report --format
// json` (SPEC §7, documented in README-json.md) and what every other
// format renders. Slices are never nil, so scripts always see lists.
type Doc struct {
	// The status object of SPEC §7, with more detail per step and host.
	Runbook string       `json:"runbook"`
	Release *ReleaseDoc  `json:"release"`
	Steps   []StepReport `json:"steps"`
	Next    *string      `json:"next"`

	Identity      Identity        `json:"identity"`
	Transitions   []TransitionDoc `json:"transitions"`
	Signoffs      []SignoffDoc    `json:"signoffs"`
	Confirmations []NoteDoc       `json:"confirmations"`
	Deviations    []NoteDoc       `json:"deviations"`
	Diffs         []DiffDoc       `json:"diffs"`
	Probes        []ProbeDoc      `json:"probes"`
	Rollbacks     []RollbackDoc   `json:"rollbacks"`
	Live          []LiveDoc       `json:"live"`
	Staged        []StagedDoc     `json:"staged"`
	// Audit is the head of the audit chain at this release's last
	// transition; absent for records from before the chain.
	Audit *AuditDoc `json:"audit,omitempty"`

	// Derived for the human formats; scripts can compute them from the
	// fields above, so they stay out of the JSON contract.
	Attention []Attention `json:"-"`
	Timeline  Timeline    `json:"-"`
	elapsedMS int64       // start to end of the release, at full precision
}

// Identity pins down what ran: the exact runbook file and the machine.
type Identity struct {
	RunbookFile   string `json:"runbook_file"`
	RunbookSHA256 string `json:"runbook_sha256"`
	Machine       string `json:"machine"`
}

// StepReport is a step of the status object plus what the report adds:
// the reason of its last decision and full host runs.
type StepReport struct {
	stepFields
	Reason string       `json:"reason"`
	Hosts  []HostReport `json:"hosts"`
}

// HostReport is a host run of the status object plus its times, the masked
// tail of its output and what a built-in action recorded.
type HostReport struct {
	HostDoc
	StartedAt  *string `json:"started_at"`
	FinishedAt *string `json:"finished_at"`
	OutputTail string  `json:"output_tail"`
	// Action is set for upload and activate steps only.
	Action *ActionDoc `json:"action"`
}

// ActionDoc is what an upload or activate recorded on a host; every field
// is always present so scripts need no existence checks.
type ActionDoc struct {
	SHA256   string   `json:"sha256"`   // upload: checksum verified on the host
	Skipped  bool     `json:"skipped"`  // upload: already staged with that checksum
	Resumed  int64    `json:"resumed"`  // upload: bytes of a verified partial file kept
	Bytes    int64    `json:"bytes"`    // upload: bytes sent
	Version  string   `json:"version"`  // activate: now live
	Previous string   `json:"previous"` // activate: live before ("" for none)
	Removed  []string `json:"removed"`  // activate: releases removed by keep
}

// TransitionDoc is one recorded state change.
type TransitionDoc struct {
	At       string `json:"at"`
	Scope    string `json:"scope"`
	From     string `json:"from"`
	To       string `json:"to"`
	Event    string `json:"event"`
	Operator string `json:"operator"`
	OSUser   string `json:"os_user"`
	Reason   string `json:"reason"`
}

// AuditDoc pins the record: the hash of this release's last transition,
// which chains every transition committed before it (runbook audit verify).
type AuditDoc struct {
	Head       string `json:"head"`
	Transition int64  `json:"transition"`
	At         string `json:"at"`
}

// SignoffDoc is a person taking responsibility for a confirm step.
type SignoffDoc struct {
	Step     string `json:"step"`
	Role     string `json:"role"`
	Name     string `json:"name"`
	Operator string `json:"operator"`
	OSUser   string `json:"os_user"`
	At       string `json:"at"`
	Via      string `json:"via"`
}

// NoteDoc is a recorded decision or event outside the normal flow.
type NoteDoc struct {
	At       string `json:"at"`
	Kind     string `json:"kind"`
	Step     string `json:"step"`
	Host     string `json:"host"`
	Operator string `json:"operator"`
	OSUser   string `json:"os_user"`
	Text     string `json:"text"`
}

// DiffDoc is the outcome of one run of a diff step.
type DiffDoc struct {
	Step    string             `json:"step"`
	At      string             `json:"at"`
	EnvA    string             `json:"env_a"`
	EnvB    string             `json:"env_b"`
	Differs bool               `json:"differs"`
	Facts   []runbook.FactDiff `json:"facts"`
}

// ProbeDoc is one target probed from one host.
type ProbeDoc struct {
	Step      string    `json:"step"`
	Host      string    `json:"host"`
	Target    string    `json:"target"`
	OK        bool      `json:"ok"`
	ConnectMS float64   `json:"connect_ms"`
	LatencyMS []float64 `json:"latency_ms"`
	Error     string    `json:"error"`
}

// Rollback kinds.
const (
	// RollbackUndo: this release's completed steps undone in reverse
	// (`runbook rollback`).
	RollbackUndo = "undo"
	// RollbackSwitch: a later `runbook rollback --to V` switched hosts back.
	RollbackSwitch = "switch"
)

// RollbackDoc is one rollback that concerns the release.
type RollbackDoc struct {
	Kind       string    `json:"kind"`
	ReleaseID  int64     `json:"release_id"`
	Version    string    `json:"version"`
	State      string    `json:"state"`
	Operator   string    `json:"operator"`
	OSUser     string    `json:"os_user"`
	StartedAt  string    `json:"started_at"`
	FinishedAt *string   `json:"finished_at"`
	Reason     string    `json:"reason"`
	Envs       []string  `json:"envs"`
	Steps      []UndoDoc `json:"steps"`
}

// UndoDoc is a step of a rollback and where it ended.
type UndoDoc struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// LiveDoc says which version a host runs now.
type LiveDoc struct {
	Env       string `json:"env"`
	Host      string `json:"host"`
	Version   string `json:"version"`
	Previous  string `json:"previous"`
	ReleaseID int64  `json:"release_id"`
	At        string `json:"at"`
	// VerifiedAt is when a verify after the switch showed Version running
	// on the host (a restart step's, or a rollback's restart); null while
	// current points to it and nothing has shown it running.
	VerifiedAt *string `json:"verified_at"`
}

// StagedDoc is a version this release staged on a host, or removed from
// it: an older one to keep only `keep` releases, or its own, undone by
// its rollback.
type StagedDoc struct {
	Env     string `json:"env"`
	Host    string `json:"host"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	At      string `json:"at"`
	Removed bool   `json:"removed"`
	// RemovedBy says what removed it: RemovedByKeep or
	// RemovedByRollback; "" while it is staged.
	RemovedBy string `json:"removed_by"`
}

// What removed a staged release (StagedDoc.RemovedBy).
const (
	RemovedByKeep     = "keep"
	RemovedByRollback = "rollback"
)

// removedText says in words what removed a staged release.
func removedText(s StagedDoc) string {
	if s.RemovedBy == RemovedByRollback {
		return "removed by the rollback"
	}
	return "removed (keep)"
}

// Attention is an item a reader must not miss: a failure, a skip, a run in
// doubt, a difference, an unreachable target.
type Attention struct {
	Label string // FAILED, SKIPPED, IN DOUBT, ...
	Class string // the state class of Label (see classOf)
	What  string // step, step/host, or release
	Text  string
}

// Timeline places every run of every host on one time axis.
type Timeline struct {
	Start, End time.Time
	Rows       []TimelineRow
}

// TimelineRow is one host of one step (or a step without hosts).
type TimelineRow struct {
	Step, Host string
	Segments   []Segment
}

// Segment is one attempt (or undo) on a row, from its start to where it
// ended. A zero-length segment marks an instant decision such as a skip.
type Segment struct {
	Start, End time.Time
	State      string // the state it ended in; "running" when it never ended
	Undo       bool
	// Stopped: the operator's Ctrl-C ended it (State is interrupted):
	// stopped part-way, not a run whose end nobody saw.
	Stopped bool
}
