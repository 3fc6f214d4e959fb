package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Local runs commands on the operator's machine. Its markers are written by
// this process rather than by a shell wrapper: it saves two forks per run,
// and a local command dies with the process group anyway, so there is
// nothing to reattach to across a crash but the exit code it left.
type Local struct {
	cfg HostConfig
	// shells, when set, holds a shell started ahead for the next command
	// (local_shells.go); the Pool's local hosts share one.
	shells *aheadShells
}

// NewLocal returns the transport for a local host, which forks a shell
// for each command. cfg.MarkerDir must be set.
func NewLocal(cfg HostConfig) *Local { return &Local{cfg: cfg} }

func (l *Local) marker(token, ext string) string {
	return filepath.Join(l.cfg.MarkerDir, token+ext)
}

// Exec implements Conn.
func (l *Local) Exec(ctx context.Context, spec ExecSpec) (int, error) {
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	if spec.Dir != "" {
		if fi, err := os.Stat(spec.Dir); err != nil || !fi.IsDir() {
			return -1, fmt.Errorf("working directory %s does not exist", spec.Dir)
		}
	}
	// The script goes in only once .started holds the shell's pid (below):
	// until then sh waits on its stdin, and if runbook dies first, the
	// pipe closes empty and nothing runs. Fed at Start, a command could
	// run while .started still said pid 0, and a resume would take it for
	// dead, not wait for it, and run it a second time beside it. So a
	// shell started ahead (local_shells.go) is as good as one forked now.
	var ahead *aheadShell
	if !spec.TTY && l.shells != nil {
		ahead = l.shells.take(spec.Dir)
	}
	var cmd *exec.Cmd
	var stdin io.WriteCloser
	if ahead != nil {
		cmd, stdin = ahead.cmd, ahead.stdin
		ahead.stdout.set(orDiscard(spec.Stdout))
		ahead.stderr.set(orDiscard(spec.Stderr))
	} else {
		var err error
		if cmd, stdin, err = shellCmd(spec.Dir); err != nil {
			return -1, err
		}
		cmd.Stdout, cmd.Stderr = orDiscard(spec.Stdout), orDiscard(spec.Stderr)
	}
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	spec, marker := withSudoPrompt(spec)
	var term *localTerminal
	if spec.TTY {
		var err error
		if term, err = newLocalTerminal(cmd, marker, spec.SudoPassword, stopRun); err != nil {
			return -1, fmt.Errorf("%w (the step has tty: true)", err)
		}
		defer term.close()
	}
	if spec.Token != "" {
		if err := l.writeIntent(spec.Token, ahead == nil); err != nil {
			if ahead != nil {
				ahead.discard()
			}
			return -1, err
		}
	}
	if ahead == nil {
		if err := cmd.Start(); err != nil {
			if spec.Token != "" {
				_ = os.Remove(l.marker(spec.Token, ".started"))
			}
			return -1, fmt.Errorf("start sh: %w", err)
		}
	}
	if term != nil {
		term.started()
	}
	if spec.Token != "" {
		Hit(PointExecForked)
		if ahead != nil {
			// Its first and only write: without a .started the run never
			// began, and the shell gets no script.
			if err := l.writeStarted(spec.Token, cmd.Process.Pid); err != nil {
				ahead.discard()
				return -1, err
			}
		} else {
			// In place, not through a rename: a torn write reads as pid
			// 0, which settles as in doubt — the safe side, since the
			// script has not been sent yet.
			l.writeAt(spec.Token, ".started", startedLine(cmd.Process.Pid))
		}
		Hit(PointExecStart)
	}
	// sh reads the whole brace group before it runs any of it, so this
	// write cannot block on a command that waits for its output to drain.
	_, _ = io.Copy(stdin, wholeOrNothing(ScriptWithEnv(spec.Script, spec.Env)))
	_ = stdin.Close()
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	if term != nil {
		term.finish()
	}
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	if ctx.Err() != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			// A timeout is a failure of the command, not doubt: we ended it.
			l.writeRC(spec.Token, code)
			return code, fmt.Errorf("timed out after %s", spec.Timeout)
		case errors.Is(context.Cause(ctx), errSudoAgain):
			l.writeRC(spec.Token, code)
			return code, sudoAgainError(orDefault(l.cfg.Name, "this machine"))
		}
		// Cancelled by the operator: it was stopped part-way, so in doubt.
		return code, fmt.Errorf("interrupted: %w", ErrInDoubt)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return code, fmt.Errorf("sh: %w", err)
	}
	l.writeRC(spec.Token, code)
	return code, nil
}

// writeIntent writes a run's markers before its shell gets its script:
// the .rc's room and, for a shell not forked yet, a .started with pid 0.
func (l *Local) writeIntent(token string, beforeFork bool) error {
	if err := os.MkdirAll(l.cfg.MarkerDir, 0o700); err != nil {
		return fmt.Errorf("marker directory: %w", err)
	}
	if _, done := localSwept.LoadOrStore(l.cfg.MarkerDir, true); !done {
		sweepMarkers(l.cfg.MarkerDir, time.Now().Add(-MarkerRetention))
	}
	// The .rc gets its room now (see rcPlaceholder); a run that cannot
	// have it does not start, rather than end with no outcome.
	if err := os.WriteFile(l.marker(token, ".rc"), []byte(rcPlaceholder), 0o600); err != nil {
		return fmt.Errorf("marker: %w", err)
	}
	if !beforeFork {
		return nil
	}
	// Written before the fork: a crash between here and Start leaves
	// "started, no rc", which settles as in doubt, never as "never ran"
	// (a torn write too: it reads as pid 0). Not synced: a process crash
	// leaves it in the page cache, and after a restart of the machine
	// Markers does not trust its absence (see boot.go).
	return l.writeStarted(token, 0)
}

// writeStarted writes a run's first .started, before its shell has its
// script. One that cannot be written whole (a full disk) is removed: the
// run never began, and an empty .started would settle as in doubt.
func (l *Local) writeStarted(token string, pid int) error {
	if err := os.WriteFile(l.marker(token, ".started"), startedLine(pid), 0o600); err != nil {
		_ = os.Remove(l.marker(token, ".started"))
		return fmt.Errorf("marker: %w", err)
	}
	return nil
}

// rcPlaceholder is what an .rc holds while its run lasts: blanks, which
// read as no exit code yet. The exit code later overwrites them in place,
// so it needs no new room on the file system: a disk that fills up while
// the command runs (its own output, or the logs beside the markers) loses
// neither the outcome nor, with it, the resume that adopts it instead of
// asking the operator. 16 bytes hold any exit code.
const rcPlaceholder = "               \n"

func (l *Local) writeRC(token string, code int) {
	if token == "" {
		return
	}
	// Neither synced nor renamed: a lost or torn .rc (power cut, crash
	// mid-write) does not parse and settles as in doubt, the safe side;
	// the outcome commit that follows is synced anyway.
	l.writeAt(token, ".rc", fmt.Appendf(nil, "%-*d\n", len(rcPlaceholder)-1, code))
}

// startedLine is what a .started holds: the pid of the run's shell (0
// before it has one) and when the run began. Its width does not depend
// on the pid, so that the pid is written over the 0 in place.
func startedLine(pid int) []byte {
	return fmt.Appendf(nil, "%-10d %d\n", pid, time.Now().Unix())
}

// writeAt overwrites the start of a marker that exists, without
// truncating it first: on ext4 a truncate of a file with data makes its
// close start writing the file out (auto_da_alloc), which the state
// database's next fsync on the same disk then waits for — once per run.
func (l *Local) writeAt(token, ext string, b []byte) {
	f, err := os.OpenFile(l.marker(token, ext), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	_, _ = f.WriteAt(b, 0)
	_ = f.Close()
}

// Markers implements Conn.
func (l *Local) Markers(_ context.Context, token string, since time.Time) (Marker, error) {
	// A blank .rc is a placeholder: the run has not ended (or never began).
	if b, err := os.ReadFile(l.marker(token, ".rc")); err == nil && strings.TrimSpace(string(b)) != "" {
		code, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		if perr != nil {
			return Marker{State: InDoubt}, nil
		}
		return Marker{State: Finished, ExitCode: code}, nil
	}
	b, err := os.ReadFile(l.marker(token, ".started"))
	if errors.Is(err, os.ErrNotExist) {
		if bootedSince(LocalBootTime(), since, localBootMargin) || pastRetention(since) {
			// The machine restarted since the intent: an unsynced
			// .started may have been lost with it; or a sweep may have
			// taken it since.
			return Marker{State: InDoubt}, nil
		}
		return Marker{State: NeverStarted}, nil
	}
	if err != nil {
		return Marker{}, err
	}
	pid := 0
	if f := strings.Fields(string(b)); len(f) > 0 {
		pid, _ = strconv.Atoi(f[0])
	}
	// A local command lives in its own process group led by the shell.
	if pid > 0 && syscall.Kill(-pid, 0) == nil {
		return Marker{State: StillRunning, PID: pid}, nil
	}
	return Marker{State: InDoubt, PID: pid}, nil
}

// Wait implements Conn. A local command outliving its runbook process is
// not ours to stream (its output went to the dead process's pipes); Wait
// polls until its group ends and then reads the .rc it may have left.
func (l *Local) Wait(ctx context.Context, token string, _ io.Writer) (int, error) {
	for {
		m, err := l.Markers(ctx, token, time.Time{})
		if err != nil {
			return -1, err
		}
		switch m.State {
		case Finished:
			return m.ExitCode, nil
		case InDoubt, NeverStarted:
			return -1, ErrInDoubt
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ForgetMarkers implements Conn.
func (l *Local) ForgetMarkers(_ context.Context, token string) error {
	for _, ext := range []string{".rc", ".started", ".log"} {
		if err := os.Remove(l.marker(token, ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Close implements Conn.
func (l *Local) Close() error { return nil }

// localSwept holds the marker directories this process has swept: once
// per run of runbook, on its first command with markers.
var localSwept sync.Map

// sweepMarkers removes the marker files of runs whose files are all older
// than before and whose .started names no live process group (a claim
// names none), as sweepScript does on SSH hosts. Best effort: a file it
// cannot read or remove stays for the next run.
func sweepMarkers(dir string, before time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	old := map[string]bool{} // token → every marker file of it is old
	for _, e := range entries {
		ext := filepath.Ext(e.Name()) // tokens may hold dots: the last one
		token := strings.TrimSuffix(e.Name(), ext)
		if !e.Type().IsRegular() || (ext != ".started" && ext != ".rc" && ext != ".log") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		isOld, seen := old[token]
		old[token] = (isOld || !seen) && fi.ModTime().Before(before)
	}
	for token, isOld := range old {
		if !isOld {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, token+".started")); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				// Alive unless the group is provably gone.
				if pid, err := strconv.Atoi(f[0]); err == nil && pid > 0 && syscall.Kill(-pid, 0) != syscall.ESRCH {
					continue
				}
			}
		}
		for _, ext := range []string{".rc", ".started", ".log"} {
			_ = os.Remove(filepath.Join(dir, token+ext))
		}
	}
}

// ChildEnv is environ less the variables of runbook itself: every
// RUNBOOK_* one. Those configure this process (the vault passphrase, its
// pass file, an identity, the state database, fault injection); a command
// that needs a release fact gets it from the step's environment, which
// runbook fills in explicitly.
func ChildEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "RUNBOOK_") {
			out = append(out, kv)
		}
	}
	return out
}

// ScriptWithEnv prefixes a script with exports of env, sorted by name, so
// that values reach the command through the script on stdin, never argv.
func ScriptWithEnv(script string, env map[string]string) string {
	if len(env) == 0 {
		return script
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, ShellQuote(env[k]))
	}
	b.WriteString(script)
	return b.String()
}

// ShellQuote quotes s for POSIX sh.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
