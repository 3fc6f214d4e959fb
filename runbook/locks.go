package runbook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrLocked is what every refusal by a lock other than the release lock
// wraps: a deliberate lock (runbook lock) or an environment lock on a
// host. The command exits 4, as for a release lock held.
var ErrLocked = errors.New("locked")

// DeployLock is a deliberate lock of the releases recorded in a store
// (runbook lock --message M, Kamal's `lock acquire -m`): while it stands,
// no release starts or resumes, whoever asks and from wherever.
type DeployLock struct {
	Message  string
	Operator string
	Machine  string
	At       time.Time
}

// DeployLockedError is a release refused, or a second lock, because a
// deliberate lock stands.
type DeployLockedError struct{ Lock DeployLock }

func (e *DeployLockedError) Error() string {
	l := e.Lock
	return fmt.Sprintf("releases are locked by %s on %s since %s: %s",
		l.Operator, l.Machine, l.At.UTC().Format(time.RFC3339), l.Message)
}

func (e *DeployLockedError) Unwrap() error { return ErrLocked }

// EnvLockOwner is what an environment lock on a host says about who took
// it: the operator and process, and the release and the store it belongs
// to, so that whoever finds it knows whom to ask, and the release that
// took it (walked from any machine sharing its store) knows it as its own.
type EnvLockOwner struct {
	Operator  string
	Machine   string
	PID       int
	Env       string
	Version   string
	ReleaseID int64
	State     string // where the owner's record is: a file path or a database URL without its password
	StoreID   string // Store.StoreID of that record
	Since     time.Time
}

// Same reports whether o and p are the lock of one release of one store.
func (o EnvLockOwner) Same(p EnvLockOwner) bool {
	return o.StoreID != "" && o.StoreID == p.StoreID && o.ReleaseID == p.ReleaseID
}

func (o EnvLockOwner) String() string {
	return fmt.Sprintf("%s on %s (pid %d, release %s #%d, state %s) since %s",
		o.Operator, o.Machine, o.PID, o.Version, o.ReleaseID, o.State, o.Since.UTC().Format(time.RFC3339))
}

// EnvLockedError is an environment lock found on a host that belongs to
// another release (of this store or another one).
type EnvLockedError struct {
	Env   string
	Host  string
	Owner EnvLockOwner
	// Unknown: the lock is there but says nothing readable about its
	// owner (taken a moment ago, or its owner died before it wrote that).
	Unknown bool
}

func (e *EnvLockedError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("environment %s is locked on %s by a runbook that left no owner file", e.Env, e.Host)
	}
	return fmt.Sprintf("environment %s is locked on %s by %s", e.Env, e.Host, e.Owner)
}

func (e *EnvLockedError) Unwrap() error { return ErrLocked }

// EnvLocker takes and gives back the lock of an environment on its hosts
// (package steps implements it in each host's deploy_dir). Calls for
// different hosts may run concurrently.
type EnvLocker interface {
	// LockHost takes the lock of h for owner atomically. A lock of the same
	// release (EnvLockOwner.Same) is taken again, its owner rewritten with
	// owner (a resume, from this machine or another). A lock of anyone else
	// fails with *EnvLockedError. Hosts without a deploy_dir have no lock:
	// nil.
	LockHost(ctx context.Context, h *Host, owner EnvLockOwner) error
	// UnlockHost removes the lock of h when it is owner's (Same); a lock of
	// someone else, or none, is left as it is. Idempotent.
	UnlockHost(ctx context.Context, h *Host, owner EnvLockOwner) error
	// HostLock reads the lock of h: nil, nil when there is none;
	// *EnvLockedError with Unknown when it names no owner.
	HostLock(ctx context.Context, h *Host) (*EnvLockOwner, error)
	// BreakHostLock removes the lock of h whoever holds it. Idempotent.
	BreakHostLock(ctx context.Context, h *Host) error
}

// FormatOwner and ParseOwner are the owner file of an environment lock:
// one "key: value" a line, readable by a person who finds it on the host.
func FormatOwner(o EnvLockOwner) string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"operator", o.Operator}, {"machine", o.Machine}, {"pid", fmt.Sprint(o.PID)},
		{"env", o.Env}, {"release", o.Version}, {"release_id", fmt.Sprint(o.ReleaseID)},
		{"state", o.State}, {"store_id", o.StoreID}, {"since", o.Since.UTC().Format(time.RFC3339Nano)},
	} {
		fmt.Fprintf(&b, "%s: %s\n", kv[0], oneLine(kv[1]))
	}
	return b.String()
}

// ParseOwner reads an owner file written by FormatOwner; ok is false when
// it names no operator or no store (empty, cut short, not ours).
func ParseOwner(s string) (o EnvLockOwner, ok bool) {
	for line := range strings.Lines(s) {
		k, v, found := strings.Cut(strings.TrimSpace(line), ": ")
		if !found {
			continue
		}
		switch k {
		case "operator":
			o.Operator = v
		case "machine":
			o.Machine = v
		case "pid":
			fmt.Sscan(v, &o.PID)
		case "env":
			o.Env = v
		case "release":
			o.Version = v
		case "release_id":
			fmt.Sscan(v, &o.ReleaseID)
		case "state":
			o.State = v
		case "store_id":
			o.StoreID = v
		case "since":
			o.Since, _ = time.Parse(time.RFC3339Nano, v)
		}
	}
	return o, o.Operator != "" && o.StoreID != ""
}

// oneLine keeps a value on its line of the owner file.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
