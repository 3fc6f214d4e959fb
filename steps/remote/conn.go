// Package remote reaches hosts: a local transport for hosts of the operator's
// own machine and an SSH transport (x/crypto/ssh, pkg/sftp) for the others,
// behind one small interface. It imports nothing of the project.
package remote

import (
	"context"
	"errors"
	"io"
	"io/fs"
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

	// TTY gives the script a terminal as its controlling terminal
	// (/dev/tty), where sudo asks for a password: a pty sshd allocates,
	// or one opened here for a local host. The script's stdin, stdout and
	// stderr stay what they are without one; what is written to the
	// terminal arrives in Stdout. The terminal echoes nothing and
	// translates nothing.
	TTY bool
	// SudoPassword, with TTY, answers sudo's prompt and nothing else: the
	// script's environment gets SUDO_PROMPT set to a marker made for this
	// run, and the password (and a line break) is written to the terminal
	// when the marker is read from it, never otherwise. Once per run: when
	// sudo asks again (the password was wrong), the run is stopped and
	// fails, rather than try the same password until the account locks.
	// The marker does not reach Stdout. "" answers nothing.
	SudoPassword string

	// Look says the script only looks at the host: it changes nothing,
	// ends at once and leaves nothing running (the preflight's checks).
	// On an SSH host it then runs in a subshell of the connection's host
	// shell, without a process group of its own (a fork, where a command
	// costs setsid and sh): a cancelled ctx abandons it rather than stop
	// it, and its stderr is dropped. Dir, Env, Token, Timeout and TTY
	// must be unset.
	Look bool
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
	Local string // path on the operator machine
	// SHA256 is the hex SHA-256 of Local, the checksum of record. When
	// it is "", Sum gives it: the copy then starts before it is known,
	// and Upload asks Sum for it only where it compares with it (a file
	// already staged, the copy before its rename). An error from Sum
	// fails the upload with the copy left under its temporary name.
	SHA256 string
	Sum    func(ctx context.Context) (string, error)
	// Dir is the target directory, created with its parents when missing
	// (mkdir -p: the caller checks that no parent is a link it must not
	// follow). It must not be a symbolic link, and it and its parent
	// directory must belong to the connecting user.
	Dir  string
	Name string // final file name in Dir
	// Progress, when set, is called with bytes written so far (including a
	// verified prefix that was resumed). It must be cheap.
	Progress func(done, total int64)
	// ReadBack makes the host hash the copy once it is complete, instead
	// of while it arrives. Hashing along takes the bytes through a pipe on
	// the host, which costs it more CPU than reading the file back (2.5
	// times on the VM of BENCHMARKS.md) and pays only with a core to
	// spare: set it when several hosts of one machine receive at once.
	ReadBack bool
	// Landed, when set, is told how many bytes from the start of the temp
	// file are on the host: written there (in order, with no hole before
	// them), not yet synced nor verified. It only grows, reaches the size
	// once the last byte is synced, and is called from the goroutine of
	// the upload; it must be cheap. A relay's copy reports it so that the
	// copies from the relay can follow it as it grows (RelayCopy).
	Landed func(n int64)
}

// UploadResult says what an upload did.
type UploadResult struct {
	Skipped  bool  // the final file already had the checksum
	Resumed  int64 // bytes of a verified partial temp file that were kept
	Written  int64 // bytes sent this time
	Duration time.Duration
	// Verify is the part of Duration from the last byte on the host's
	// stable storage to its checksum verified there: what distribution
	// costs beyond the transfer.
	Verify time.Duration
	// HashedAlong: the host hashed the copy while it arrived, so Verify
	// is only what was left to read of it once the last byte was there.
	HashedAlong bool
}

// FileInfo describes one directory entry as lstat(2) sees it: a symbolic
// link is described, never followed.
type FileInfo struct {
	Mode    fs.FileMode // type bits and permissions
	Size    int64
	ModTime time.Time
	// UID owns the entry; -1 when the transport cannot tell.
	UID int
}

// IsDir reports a directory (never a link to one).
func (fi FileInfo) IsDir() bool { return fi.Mode.IsDir() }

// IsLink reports a symbolic link.
func (fi FileInfo) IsLink() bool { return fi.Mode&fs.ModeSymlink != 0 }

// IsRegular reports a regular file (never a link to one).
func (fi FileInfo) IsRegular() bool { return fi.Mode.IsRegular() }

// Conn is an open connection to one host: it runs commands and moves
// files, and knows nothing of what a release is (package steps lays out
// deploy directories on top of it). Implementations are safe for use by
// one goroutine at a time per method call; the walker serialises per host.
//
// Paths are the host's. The file methods but ReadFile never follow a
// symbolic link at the path they are given (nor Upload at its directory;
// the parents of that are the caller's to check): what a path names is
// what is looked at, written or removed. ReadFile reads what the host's
// programs would, through links.
type Conn interface {
	// Exec runs spec.Script with sh reading it on stdin. A nil error means
	// the script ran to completion and exitCode is its status (non-zero is
	// not an error). errors.Is(err, ErrInDoubt) means it may have run; any
	// other error means it did not start (unreachable, refused, no such
	// directory). With a Token, Exec writes the .started marker before the
	// script starts and the .rc marker after it ends.
	//
	// Cancelling ctx (the operator's Ctrl-C) stops the script part-way
	// (TERM to its process group, KILL after a grace) and returns an error
	// wrapping ErrInDoubt; Markers and Wait then report the run InDoubt,
	// never the code it ended with, on every transport. spec.Timeout
	// passing stops it too, as a failure: its code is recorded.
	//
	// The script's environment is the host's own (an SSH login's, or for a
	// local host this process's less every RUNBOOK_* variable: those are
	// runbook's own, the vault passphrase among them) plus spec.Env.
	// Nothing of the operator's environment reaches an SSH host, and no
	// agent is forwarded.
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

	// RunLog copies to out what the run under token has written to its
	// output log so far, and returns: a look at a run still going (Wait
	// follows one to its end). The log holds the run's raw output,
	// unmasked: the caller masks it. An error wrapping fs.ErrNotExist
	// when the host keeps no log of the run (forgotten, never started, or
	// a local run, whose output went to the process that started it).
	RunLog(ctx context.Context, token string, out io.Writer) error

	// ForgetMarkers removes the markers (and the output log) of token.
	// Idempotent. Used once the outcome is committed to the state
	// database, and for runs that will never be settled (abandoned,
	// skipped): their log holds the run's raw output, unmasked. Markers
	// nobody forgets are swept once they are older than MarkerRetention.
	ForgetMarkers(ctx context.Context, token string) error

	// Upload stages a file in spec.Dir: written under a temp name, synced,
	// checked by SHA-256 on the host, renamed to spec.Name. Skipped when the
	// final file already has the checksum; a partial temp file whose prefix
	// hash matches is resumed. Idempotent. It refuses a Dir that is a
	// symbolic link, and a Dir or a parent directory of it that the
	// connecting user does not own (someone else could swap the file once
	// verified); the temp file is created exclusively, one that is not a
	// regular file is removed, never written through, and a partial one
	// is only written to once its directory is known to be the user's.
	Upload(ctx context.Context, spec UploadSpec) (UploadResult, error)

	// Lstat describes the entry at p without following a symbolic link;
	// an error wrapping fs.ErrNotExist when there is none.
	Lstat(ctx context.Context, p string) (FileInfo, error)

	// Readlink returns the target of the symbolic link p as written; an
	// error wrapping fs.ErrNotExist when there is nothing at p, another
	// error when p is not a link.
	Readlink(ctx context.Context, p string) (string, error)

	// Symlink creates the symbolic link link pointing to target; it fails
	// when anything exists at link.
	Symlink(ctx context.Context, target, link string) error

	// Rename renames from to to, atomically replacing what to names (a
	// link at to is replaced, not followed). Durable where the transport
	// can make it so (the local one syncs the directory).
	Rename(ctx context.Context, from, to string) error

	// Mkdir creates the directory p, one level (its parent must exist);
	// an error wrapping fs.ErrExist when anything exists at p.
	Mkdir(ctx context.Context, p string) error

	// WriteFile creates the file p with data in it, readable and writable
	// by the connecting user alone (0600); an error wrapping fs.ErrExist
	// when anything exists at p, a link included (never followed). It
	// starts no process on the host. Not synced: for small files whose
	// loss a crash may cost (the environment lock's owner).
	WriteFile(ctx context.Context, p string, data []byte) error

	// Remove removes the entry p: a file, a link (not its target) or an
	// empty directory. Absent is not an error.
	Remove(ctx context.Context, p string) error

	// RemoveAll removes p and everything below it, never following a
	// symbolic link (a link is removed itself). Absent is not an error.
	RemoveAll(ctx context.Context, p string) error

	// SHA256 returns the hex SHA-256 of the regular file p, computed on
	// the host; an error wrapping fs.ErrNotExist when absent, another when
	// p is a symbolic link or not a regular file.
	SHA256(ctx context.Context, p string) (string, error)

	// FreeSpace returns the bytes available to the connecting user on
	// the file system that holds p (statvfs: f_bavail × f_frsize), p
	// being an existing path. Over SSH it asks the SFTP server when it
	// offers statvfs@openssh.com, else runs df -Pk.
	FreeSpace(ctx context.Context, p string) (int64, error)

	// ReadFile reads a file on the host (for consistency facts), at most
	// 16 MiB.
	ReadFile(ctx context.Context, path string) ([]byte, error)

	// Dial opens a TCP connection from the host's side (direct-tcpip for SSH).
	Dial(ctx context.Context, network, addr string) (net.Conn, error)

	// Close closes the connection. Idempotent.
	Close() error
}
