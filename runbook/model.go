// Package runbook is the domain of the release tool: the model of a
// runbook file, its loader and validator, templates, the records of a
// release and their state machines, and the ports through which the
// engine (package runbook/engine) reaches hosts, the operator and the
// record. It imports nothing of the project; the rooms around it (engine,
// state, steps, secrets, cli) plug in through the interfaces in ports.go
// and store.go.
package runbook

import (
	"fmt"
	"time"
)

// Pos is a position in the runbook file (1-based).
type Pos struct {
	Line, Col int
}

// Runbook is a loaded and validated runbook file.
type Runbook struct {
	File string // absolute path of the file
	Dir  string // directory of the file: relative paths resolve here
	Hash string // hex SHA-256 of the file's bytes, stored with each release

	Name       string
	Artifact   Artifact
	KnownHosts string // path; "" means ~/.ssh/known_hosts
	Vault      string // path; "" means secrets.vault beside the file
	// State is the PostgreSQL URL of a team's shared record (never with a
	// password); "" means the embedded SQLite database beside the file.
	State string
	// StatePassword is the secret:NAME reference of State's password; ""
	// leaves it to PGPASSWORD or ~/.pgpass.
	StatePassword string
	Envs          map[string]*Environment
	EnvOrder      []string // environments in file order
	Consistency   Consistency
	Handbook      Handbook
	Steps         []*Step
	// Hooks maps a hook name (HookOnStart, …) to its command; nil: none.
	Hooks map[string]*Hook

	// secretRefs is where the file refers to vault secrets, recorded by the
	// loader for SecretRefPositions (secretrefs.go).
	secretRefs []SecretRef
	// warnings are what validate shows without refusing (warnings.go).
	warnings []FileWarning
}

// Artifact is the file a release ships.
type Artifact struct {
	Path string // as written in the file
	Abs  string // resolved against Runbook.Dir
	Name string // base name: releases/<version>/<Name>
	Pos  Pos
}

// Environment is a group of hosts that steps run on.
type Environment struct {
	Name      string
	Local     bool
	Workdir   string
	DeployDir string
	Keep      int // staged releases kept per host; 0 means the default (5)
	User      string
	Auth      *Auth
	Hosts     []*Host
	Via       string // jump host: a host name of another environment or user@host:port
	Parallel  int    // hosts at a time; at least 1 after loading
	// Serial is the size of a rolling batch (SPEC §3.6); zero: one batch
	// of every host.
	Serial Share
	// MaxFail is how many hosts may fail, of a batch and of the step.
	MaxFail Share
	// Operations maps a name (restart, status, logs, ...) to a command template.
	Operations map[string]string
	OpOrder    []string
	Pos        Pos
}

// Share is a number of hosts written as a count (`3`) or as a
// percentage (`25%`) of the hosts it applies to: a step's, or a batch's.
type Share struct {
	N       int  // the count, or the percentage when Percent
	Percent bool // N is a percentage (0 to 100)
}

// Of returns the count the share is of n hosts: N, or N% of n rounded
// down (10% of 15 hosts is 1), as Ansible's serial and
// max_fail_percentage count.
func (s Share) Of(n int) int {
	if !s.Percent {
		return s.N
	}
	return s.N * n / 100
}

// String is the share as the runbook file writes it.
func (s Share) String() string {
	if s.Percent {
		return fmt.Sprintf("%d%%", s.N)
	}
	return fmt.Sprint(s.N)
}

// Auth says how to log in to a host. Values may be "secret:NAME" references.
type Auth struct {
	Key           string // private key material, usually secret:NAME
	KeyFile       string // path to a private key file
	KeyPassphrase string
	Password      string
	Agent         bool
	Pos           Pos
}

// Host is one machine of an environment. After loading, its fields hold the
// effective values: host overrides first, then the environment's.
type Host struct {
	Name      string
	Address   string // host[:port]; empty for a local host
	User      string
	Auth      *Auth
	DeployDir string
	Workdir   string
	Local     bool
	Env       *Environment
	Pos       Pos
}

// StepKind is the action a step performs.
type StepKind string

// The step kinds of SPEC §3.
const (
	KindRun      StepKind = "run"
	KindOp       StepKind = "op"
	KindUpload   StepKind = "upload"
	KindActivate StepKind = "activate"
	KindConfirm  StepKind = "confirm"
	KindDiff     StepKind = "diff"
	KindProbe    StepKind = "probe"
)

// Kinds lists every step kind, in the order the SPEC names them.
var Kinds = []StepKind{KindRun, KindOp, KindUpload, KindActivate, KindConfirm, KindDiff, KindProbe}

// Step is one step of the night.
type Step struct {
	Index       int // 0-based position in Runbook.Steps
	Name        string
	Description string
	On          string // environment name; empty for confirm and diff
	Kind        StepKind

	Run      string   // KindRun: command template
	Op       string   // KindOp: operation name of the environment
	Upload   string   // KindUpload: "artifact"
	Activate bool     // KindActivate
	Confirm  string   // KindConfirm: the question
	Signoff  []string // KindConfirm: roles that must sign off
	Diff     []string // KindDiff: two environment names
	Probe    *Probe   // KindProbe
	Relay    *Relay   // KindUpload: nil when the artifact goes to each host from here

	Verify     string
	Check      string
	Undo       string
	NoUndo     bool          // `undo: none`: nothing for a rollback to undo
	Timeout    time.Duration // 0: none
	Retries    int           // verify retries
	RetryDelay time.Duration
	Parallel   int    // 0: the environment's
	Serial     *Share // nil: the environment's
	MaxFail    *Share // nil: the environment's
	Idempotent bool
	Auto       bool
	Env        map[string]string // environment variables, values are templates
	EnvOrder   []string
	// TTY runs the step's commands on a host (the command, verify, check,
	// undo) with a terminal as their controlling terminal: what sudo
	// needs to ask for a password.
	TTY bool
	// SudoPassword is the secret:NAME reference of the password that
	// answers sudo's prompt on that terminal; "" for none.
	SudoPassword string

	Pos Pos
}

// Relay is the `relay` of an upload step: a host of another environment
// that receives the artifact once and sends it to every host of the
// step's environment.
type Relay struct {
	Host string // a remote host of another environment, with a deploy_dir
	// KeyFile, when set, is a private key file on the relay host with
	// which it logs in to the step's hosts (the relay's own key). When
	// empty, runbook lends each host's own key to the copy through a
	// forwarded agent, never written on the relay.
	KeyFile string
	Pos     Pos
}

// Command returns the command template of a run or op step.
func (s *Step) Command(env *Environment) string {
	switch s.Kind {
	case KindRun:
		return s.Run
	case KindOp:
		if env != nil {
			return env.Operations[s.Op]
		}
	}
	return ""
}

// IsIdempotent reports whether an interrupted host run of this step may
// simply run again: built-in upload and activate are, others when declared.
func (s *Step) IsIdempotent() bool {
	return s.Idempotent || s.Kind == KindUpload || s.Kind == KindActivate || s.Kind == KindProbe || s.Kind == KindDiff
}

// HasHosts reports whether the step runs once per host of its environment.
func (s *Step) HasHosts() bool {
	switch s.Kind {
	case KindConfirm, KindDiff:
		return false
	}
	return true
}

// Probe is a connectivity check made from each host's side.
type Probe struct {
	TCP  []string
	HTTP []HTTPProbe
	Pos  Pos
}

// HTTPProbe is one HTTP target of a probe.
type HTTPProbe struct {
	URL       string
	Expect    int           // default 200
	KeepAlive int           // requests on one connection, default 1
	Timeout   time.Duration // default 10s
	Pos       Pos
}

// Consistency lists the facts that must match across environments.
type Consistency struct {
	Files    []string
	Commands []string
	Ignore   []string // regular expressions; matching lines are dropped
}

// Handbook is the night's reference information.
type Handbook struct {
	Domains  map[string]string
	Contacts []Contact
	Checks   []Check
	Queries  []Query
	Notes    string
}

// Contact is a person to call.
type Contact struct{ Role, Name, Phone, Email string }

// Check is a named command of the handbook, run on an environment.
type Check struct{ Name, On, Run string }

// Query is a named SQL query of the handbook (a template).
type Query struct{ Name, SQL string }

// Step returns the step with the given name, or nil.
func (rb *Runbook) Step(name string) *Step {
	for _, s := range rb.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// EnvHost finds host name in environment env, or nil: a recorded run
// names its host, which the runbook may no longer have.
func (rb *Runbook) EnvHost(env, name string) *Host {
	e := rb.Envs[env]
	if e == nil {
		return nil
	}
	for _, h := range e.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// HostByName finds a host of any environment.
func (rb *Runbook) HostByName(name string) *Host {
	for _, en := range rb.EnvOrder {
		for _, h := range rb.Envs[en].Hosts {
			if h.Name == name {
				return h
			}
		}
	}
	return nil
}
