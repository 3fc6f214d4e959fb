// Package remote reaches hosts: a local transport for hosts of the operator's
// own machine and an SSH transport (x/crypto/ssh, pkg/sftp) for the others,
// behind one small interface. It imports nothing of the project.
package remote

import (
	"context"
	"errors"
	"io"
	"net"
	"time"
)

// ErrInDoubt means a command may have started and its outcome is unknown:
// the connection dropped, or the session ended without an exit status
// (ssh.ExitMissingError). The caller must not treat it as a failure; the
// host's markers settle it later.
var ErrInDoubt = errors.New("outcome in doubt")

// HostConfig says how to reach one host.
type HostConfig struct {
	Name    string // the runbook's host name, for messages and the pool key
	Local   bool   // run on the operator's machine
	Address string // host[:port] or a Host alias of ~/.ssh/config
	User    string

	Key           []byte // PEM private key (resolved from the vault)
	KeyFile       string // path of a private key file
	KeyPassphrase []byte
	Password      string
	Agent         bool

	Via *HostConfig // jump host, nil for none

	// MarkerDir is where per-run markers (<token>.started, .rc, .log) live
	// on the host. Empty: ~/.runbook/runs on remote hosts; local hosts must
	// set it (the walker uses .runbook/runs beside the state database).
	MarkerDir string
}

// ExecSpec is one command to run on a host.
type ExecSpec struct {
	// Script is a shell script. It reaches the host on stdin of `sh -s`, never
	// in argv, so neither it nor a secret shows in the process list.
	Script string
	Dir    string            // working directory; "" for the default
	Env    map[string]string // exported by the script itself, never in argv
	// Token names the markers of this run (see Markers). Empty: no markers
	// (checks, verify, undo, ad-hoc commands). On an SSH host a run with a
	// Token outlives a dropped connection; its output goes through a log on
	// the host, so stderr arrives merged into Stdout.
	Token   string
	Stdout  io.Writer // may be nil
	Stderr  io.Writer // may be nil
	Timeout time.Duration
}

// MarkerState is what the markers of a token say about a run.
type MarkerState int

// Marker states (DESIGN "Resume exactly" step 4).
const (
	// NeverStarted: no .started marker; the command never began.
	NeverStarted MarkerState = iota
	// StillRunning: .started names a live process and there is no .rc.
	StillRunning
	// Finished: .rc holds the exit code.
	Finished
	// InDoubt: .started exists, its process is gone, and there is no .rc.
	InDoubt
)

func (m MarkerState) String() string {
	return [...]string{"never started", "still running", "finished", "in doubt"}[m]
}

// Marker is the settled state of a token.
type Marker struct {
	State    MarkerState
	ExitCode int // with Finished
	// PID, with StillRunning and InDoubt when known, is the run's process
	// group (the pid of its leader): what is signalled to end the run.
	PID int
}

// UploadSpec stages one local file on a host.
type UploadSpec struct {
	Local  string // path on the operator machine
	SHA256 string // hex SHA-256 of Local, computed by the caller beforehand
	Dir    string // target directory, created if missing (deploy_dir/releases/<version>)
	Name   string // final file name in Dir
	// Progress, when set, is called with bytes written so far (including a
	// verified prefix that was resumed). It must be cheap.
	Progress func(done, total int64)
}

// UploadResult says what an upload did.
type UploadResult struct {
	Skipped  bool  // the final file already had the checksum
	Resumed  int64 // bytes of a verified partial temp file that were kept
	Written  int64 // bytes sent this time
	Duration time.Duration
	// Verify is the part of Duration spent hashing the copy on the host:
	// what distribution costs beyond the transfer.
	Verify time.Duration
}

// ActivateSpec switches a host's current link to a staged release.
type ActivateSpec struct {
	DeployDir string // holds releases/ and current
	Version   string // releases/<Version> must exist
	Keep      int    // staged releases to keep; 0 keeps all
	// Protect lists versions never removed by the cleanup (e.g. a rollback
	// target). The new live one and the previous one are always kept.
	Protect []string
}

// ActivateResult says what activation did.
type ActivateResult struct {
	Previous string   // the version current pointed to before ("" for none)
	Removed  []string // versions removed by the keep cleanup
}

// Conn is an open connection to one host. Implementations are safe for use
// by one goroutine at a time per method call; the walker serialises per host.
type Conn interface {
	// Exec runs spec.Script with sh reading it on stdin. A nil error means
	// the script ran to completion and exitCode is its status (non-zero is
	// not an error). errors.Is(err, ErrInDoubt) means it may have run; any
	// other error means it did not start (unreachable, refused, no such
	// directory). With a Token, Exec writes the .started marker before the
	// script starts and the .rc marker after it ends.
	Exec(ctx context.Context, spec ExecSpec) (exitCode int, err error)

	// Markers reports what the markers of token say. It never runs the
	// command. Idempotent. NeverStarted is final: the command must then
	// be run under a new token, never this one again — on an SSH host the
	// answer claims the token, so that a command sent under it before a
	// crash and still on its way to the host runs nothing when it
	// arrives (its Exec fails without running). since is when the run's
	// intent was committed (zero: unknown); when the host may have booted
	// after it, markers that were never synced may be lost, and a run
	// without them is InDoubt rather than NeverStarted.
	Markers(ctx context.Context, token string, since time.Time) (Marker, error)

	// Wait reattaches to a run that Markers reported StillRunning: it
	// copies the run's output from its log to out (may be nil) and returns
	// its exit code when it ends; ErrInDoubt when it dies without one.
	Wait(ctx context.Context, token string, out io.Writer) (exitCode int, err error)

	// ForgetMarkers removes the markers of token. Idempotent; used once
	// the outcome is committed to the state database.
	ForgetMarkers(ctx context.Context, token string) error

	// Upload stages a file: temp name in spec.Dir, streamed, synced,
	// checked by SHA-256 on the host, renamed to spec.Name. Skipped when the
	// final file already has the checksum; a partial temp file whose prefix
	// hash matches is resumed. Idempotent.
	Upload(ctx context.Context, spec UploadSpec) (UploadResult, error)

	// Activate points DeployDir/current at releases/<Version> atomically
	// (symlink to a temp name, rename) and removes releases beyond Keep.
	// Idempotent: activating the live version again changes nothing and
	// reports the same Previous.
	Activate(ctx context.Context, spec ActivateSpec) (ActivateResult, error)

	// Current returns the version DeployDir/current points to, "" if none.
	Current(ctx context.Context, deployDir string) (string, error)

	// StagedSHA256 returns the SHA-256 of DeployDir/releases/<version>/<name>
	// computed on the host, or an error wrapping fs.ErrNotExist when absent.
	StagedSHA256(ctx context.Context, deployDir, version, name string) (string, error)

	// ReadFile reads a file on the host (for consistency facts).
	ReadFile(ctx context.Context, path string) ([]byte, error)

	// Dial opens a TCP connection from the host's side (direct-tcpip for SSH).
	Dial(ctx context.Context, network, addr string) (net.Conn, error)

	// Close closes the connection. Idempotent.
	Close() error
}
