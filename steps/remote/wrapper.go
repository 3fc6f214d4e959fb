package remote

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
)

// The scripts in this file run on the host through `sh -s`: they reach it
// on stdin, never in argv, and whatever the user's login shell is it only
// has to start sh. The user's script is embedded in a quoted here-document
// with a random delimiter, so it is neither expanded nor visible in any
// process's arguments. A subshell sources it (`( . /dev/stdin )`) rather
// than a new sh reading it: a fork instead of an exec on every step. As in
// any subshell, $$ in the script is then the wrapper's pid.
//
// The wrapper's process group is the run's: $g (groupVar). It is the
// wrapper's own pid ($$), since the wrapper's sh leads a group (started
// by setsid in the host shell, see shell.go; sshd makes a session's sh
// one), except on a terminal, where the wrapper is not the leader and is
// given the leader's pid as $1 (see sshConn.terminal).
//
// A script reports its own failures (no working directory, no marker
// directory, a run that left no exit code) with a trailer line on stdout,
// "\nrunbook-NONCE:C\n", that Exec strips: an exit code alone cannot tell
// them from the user's command failing.

// wholeOrNothing makes sh run a script only once it has read all of it.
// `sh -s` runs each command as soon as it has read it, and a connection
// cut while the script is in flight (or a runbook process killed while it
// writes a local command's stdin) ends that stdin early: the commands read
// so far would run, and a here-document cut short is closed by end of file
// (silently, for dash), so the first half of the user's script would run
// and could even leave an exit code behind. A brace group is parsed whole
// before any of it runs; cut short, it is a syntax error and nothing runs.
// The brace shares the first line, so that sh's line numbers in error
// messages stay those of the script.
func wholeOrNothing(script string) io.Reader {
	return strings.NewReader(wholeScript(script))
}

// wholeScript is script as wholeOrNothing sends it.
func wholeScript(script string) string { return "{ " + script + "\n}\n" }

// Trailer codes.
const (
	trailerNoDir     = 'D' // the working directory is missing
	trailerMarkerDir = 'M' // the marker directory cannot be written
	trailerInDoubt   = 'I' // Wait: the run ended without an .rc
	trailerSettled   = 'S' // the run was settled as never started before it began
	trailerPID       = 'P' // a header: the process group of a plain run follows
	trailerLog       = 'L' // not a failure: the run's log holds output, to be read through SFTP
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux.
	return hex.EncodeToString(b)
}

func trailer(nonce string, code byte) string {
	return "runbook-" + nonce + ":" + string(code)
}

// failWith is a shell fragment that reports code and exits 1.
func failWith(nonce string, code byte) string {
	return fmt.Sprintf(`{ printf '\n%%s\n' '%s'; exit 1; }`, trailer(nonce, code))
}

// hostPath quotes a path for the shell, expanding a leading ~ to $HOME on
// the host (not the operator's home).
func hostPath(p string) string {
	if p == "~" {
		return `"$HOME"`
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return `"$HOME"/` + ShellQuote(rest)
	}
	return ShellQuote(p)
}

// markerBase is the shell expression of the markers' path prefix for token.
func markerBase(markerDir, token string) (dir, base string) {
	dir = `"$HOME/.runbook/runs"`
	if markerDir != "" {
		dir = hostPath(markerDir)
	}
	return dir, `"$d"/` + ShellQuote(token)
}

// checkToken refuses tokens that would not be a plain file name.
func checkToken(token string) error {
	if token == "" || strings.HasPrefix(token, ".") || strings.ContainsAny(token, "/\x00\n") {
		return fmt.Errorf("invalid run token %q: it must be a plain file name", token)
	}
	return nil
}

// heredoc embeds body under a delimiter that no line of it equals.
func heredoc(body string) (open, rest string) {
	delim := "RUNBOOK_" + randomHex(8)
	for strings.Contains("\n"+body+"\n", "\n"+delim+"\n") {
		delim = "RUNBOOK_" + randomHex(8)
	}
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	return "<<'" + delim + "'", body + delim + "\n"
}

func cdScript(dir, nonce string) string {
	if dir == "" {
		return ""
	}
	return fmt.Sprintf("cd %s 2>/dev/null || { echo %s >&2; %s }\n", hostPath(dir),
		ShellQuote("runbook: working directory "+dir+" does not exist"), failWith(nonce, trailerNoDir))
}

// plainScript runs the user's script without markers, in a subshell so
// that a TERM sent through the session (a timeout) ends its whole process
// group: the trap forwards it to the group, ignoring it itself so that it
// lives to report the script's status. A subshell sourcing the
// here-document costs a fork, not an exec of another sh. Its first line
// on stdout is a header, "runbook-NONCE:P<pid>", that names the group
// (Exec strips it): sshd passes no signal on to the session of a root
// login (it runs without privilege separation), so Exec signals the
// group from a session of its own.
func plainScript(spec ExecSpec, nonce string) string {
	open, rest := heredoc(ScriptWithEnv(spec.Script, spec.Env))
	return groupVar + fmt.Sprintf("printf '%%s%%s\\n' '%s' \"$g\"\n", trailer(nonce, trailerPID)) +
		cdScript(spec.Dir, nonce) +
		"( . /dev/stdin ) " + open + " &\n" + rest +
		"p=$!\n" + forwardTerm + waitLoop
}

// groupVar sets $g to the run's process group (see above) and clears the
// positional parameters, which the user's script would otherwise see.
const groupVar = "g=${1:-$$}\nset --\n"

// forwardTerm makes a TERM on the session end the session's process group
// (sshd makes the session's shell a group leader; exec sh -s keeps it so).
const forwardTerm = `trap 'trap "" TERM; kill -TERM 0 2>/dev/null' TERM
`

// waitRun waits for $p and keeps its status in rc: wait returns early when
// a trap runs, so it loops until the child is really gone.
const waitRun = `while :; do wait "$p"; rc=$?; kill -0 "$p" 2>/dev/null || break; done
`

// waitLoop waits for $p and exits with its status.
const waitLoop = waitRun + `exit "$rc"
`

// detachedScript runs the user's script with markers (DESIGN "Resume
// exactly" step 2) so that a dropped connection loses nothing:
//
//   - <token>.started ("pgid unixtime") is written before the script is
//     forked: a script that may have run always left one. The id is the
//     run's process group ($g), which outlives the wrapper while any part
//     of the run lives, and which a pid cannot be reused for meanwhile. It is created exclusively (set -C,
//     O_EXCL): a resume that found no .started claimed the name first
//     (see markersScript), and then the wrapper, arriving late, must not
//     run the script — the resume has started it again under a new token;
//   - the script runs in a background subshell with its output in
//     <token>.log, not on the session: when the connection drops, sshd
//     closes the session's pipes and nothing of the run writes to them.
//     Without a terminal the log is sent back once the run has ended,
//     and the log of a run that lasts is followed through SFTP
//     (quietTail); on a terminal tail streams it back while the run
//     lasts;
//   - <token>.rc is written when the script ends, whether or not anyone
//     still listens, by the wrapper (on a terminal, by a subshell of its
//     own), which survives the TERM of a timeout to record the killed
//     script's code;
//   - the wrapper exits with the script's code;
//   - the markers and the log are created under umask 077 (0600): the log
//     holds the run's raw output, secrets unmasked. The script itself
//     runs under the session's own umask, read from /proc/self/status
//     without a fork where the host has it;
//   - with sweep, the first run of a connection also removes, in the
//     background, the marker files of runs that ended more than
//     MarkerRetention ago (see sweepScript), unless the marker directory
//     was swept less than sweepEvery ago or is new: the sweep costs a
//     host a subshell and two finds, and a night opens a connection to
//     every host.
//
// The markers are written in place, not through a temp file and mv: an
// exec costs milliseconds on every step, and a reader that catches a
// marker half-written (microseconds) reads an empty .rc as "not yet" and
// an empty .started as in doubt, both on the safe side.
func detachedScript(spec ExecSpec, markerDir, nonce string, now int64, sweep, logLater bool) string {
	dir, base := markerBase(markerDir, spec.Token)
	open, rest := heredoc(ScriptWithEnv(spec.Script, spec.Env))
	var b strings.Builder
	b.WriteString(groupVar)
	fmt.Fprintf(&b, "d=%s\nf=%s\n", dir, base)
	b.WriteString(`o=; while read k v; do [ "$k" != Umask: ] || { o=$v; break; }; done 2>/dev/null < /proc/self/status
[ -n "$o" ] || o=$(umask)
umask 077
`)
	if sweep {
		// A marker directory made now has nothing to sweep; one swept
		// within sweepEvery (by the stamp in .swept, on the operator's
		// clock: it only decides how often) is not swept again.
		fmt.Fprintf(&b, "if [ -d \"$d\" ]; then\n%selse\nmkdir -p \"$d\" || %s\n%sfi\n",
			sweepDue(now), failWith(nonce, trailerMarkerDir), stampSwept(now))
	} else {
		fmt.Fprintf(&b, `[ -d "$d" ] || mkdir -p "$d" || %s`+"\n", failWith(nonce, trailerMarkerDir))
	}
	b.WriteString(cdScript(spec.Dir, nonce))
	fmt.Fprintf(&b, `: > "$f.log" 2>/dev/null || %s`+"\n", failWith(nonce, trailerMarkerDir))
	// The .rc starts as blanks (no code yet) and the code overwrites them
	// in place (1<> does not truncate): it needs no new room, so a disk
	// that fills up while the run lasts (its log grows beside it) cannot
	// lose the outcome.
	fmt.Fprintf(&b, `printf '%%15s\n' '' > "$f.rc" || %s`+"\n", failWith(nonce, trailerMarkerDir))
	fmt.Fprintf(&b, "set -C\nif ! printf '%%s %%d\\n' \"$g\" %d 2>/dev/null > \"$f.started\"; then [ ! -e \"$f.started\" ] || %s; %s; fi\nset +C\n",
		now, failWith(nonce, trailerSettled), failWith(nonce, trailerMarkerDir))
	if !spec.TTY {
		b.WriteString(quietTail(open, rest, nonce, logLater))
		return b.String()
	}
	b.WriteString("(\ntrap : TERM\n")
	// A dropped connection hangs the terminal up: the run goes on, as it
	// does without one.
	b.WriteString("trap '' HUP\n")
	b.WriteString(`( umask "$o"; . /dev/stdin ) >> "$f.log" 2>&1
rc=$?
printf '%-15s\n' "$rc" 1<> "$f.rc"
exit "$rc"
) ` + open + " >/dev/null 2>&1 &\n")
	b.WriteString(rest)
	b.WriteString("p=$!\n" + forwardTerm)
	// On a terminal the output is streamed as it comes (a prompt must show
	// before its answer): tail exits once the run's subshell is gone and
	// the log drained. It notices the end by polling the pid every -s:
	// 2 ms keeps a step's overhead small for about 0.3% of a core while a
	// command runs. A tail without --pid (busybox) fails at once with 1,
	// and the log is printed whole at the end. LC_ALL=C spares it loading
	// the locale; it copies bytes and its own messages go to /dev/null.
	b.WriteString(`LC_ALL=C tail -n +1 -s 0.002 -f --pid="$p" "$f.log" 2>/dev/null &
t=$!
` + waitRun + `while :; do wait "$t"; ts=$?; kill -0 "$t" 2>/dev/null || break; done
[ "$ts" != 1 ] || cat "$f.log"
exit "$rc"
`)
	return b.String()
}

// quietTail is the end of a wrapper without a terminal: the script runs
// in a subshell with its output in the log, and the wrapper itself waits
// for it, records its code in .rc, and only then prints the log (nothing
// when it is empty: most steps print nothing). Every process a step
// starts costs a host a fork and an exec, several milliseconds each where
// a hundred hosts share a machine (BENCHMARKS.md, "One hundred hosts"):
// a step is the wrapper's sh, the subshell and the command, without a
// `tail` streaming the log nor a second subshell writing the code. A run
// that lasts is streamed all the same, its log read through SFTP while
// it runs (follow.go), and its output then comes twice: Exec passes on
// the wrapper's copy only past what the follower showed.
//
// The wrapper outlives a lost connection as the run does: it writes
// nothing to its stdout before the .rc, so the closed session's pipe
// cannot end it first (only the cat after it dies of that), and it
// survives the TERM of a stop, which forwardTerm passes on to the group
// while ignoring it, to record the killed script's code.
//
// With logLater, the wrapper does not print the log itself: it ends with
// the trailer trailerLog when the log holds output, and Exec reads the
// log through the connection's SFTP session instead (fetchLog). A cat is
// a fork and an exec on the host for every step that prints anything;
// an SFTP read is a handful of requests (open, stat, reads, close) to a
// server that is already running.
func quietTail(open, rest, nonce string, logLater bool) string {
	show := `[ ! -s "$f.log" ] || cat "$f.log"`
	if logLater {
		show = fmt.Sprintf(`[ ! -s "$f.log" ] || printf '\n%%s\n' '%s'`, trailer(nonce, trailerLog))
	}
	return `( umask "$o"; . /dev/stdin ) >> "$f.log" 2>&1 ` + open + " &\n" + rest +
		"p=$!\n" + forwardTerm + waitRun + `printf '%-15s\n' "$rc" 1<> "$f.rc"
` + show + `
exit "$rc"
`
}

// MarkerRetention is how long the marker files of a run are kept on a
// host when nobody forgets them (a run abandoned, or a runbook killed
// before it committed the outcome): after it they are swept, and Markers
// no longer takes their absence as proof that a run never started.
const MarkerRetention = 30 * 24 * time.Hour

// sweepEvery is how often a host's marker directory is swept at most.
const sweepEvery = 24 * time.Hour

// sweepDue runs sweepScript when the stamp in $d/.swept (the time of the
// last sweep, in Unix seconds) is older than sweepEvery, or from the
// future (a clock set back), or missing, and stamps the directory now.
// Builtins only.
func sweepDue(now int64) string {
	return fmt.Sprintf(`s=; [ ! -f "$d/.swept" ] || read s < "$d/.swept" 2>/dev/null
case $s in ''|*[!0-9]*) s=0 ;; esac
if [ $((%[1]d - s)) -ge %[2]d ] || [ $((%[1]d - s)) -lt 0 ]; then
%[3]s%[4]sfi
unset s
`, now, int64(sweepEvery/time.Second), stampSwept(now), sweepScript)
}

// stampSwept records in the marker directory that it was swept at now.
func stampSwept(now int64) string {
	return fmt.Sprintf("printf '%%d\\n' %d > \"$d/.swept\" 2>/dev/null\n", now)
}

// sweepScript removes, in the background and at no cost to the run, the
// marker files ($d/TOKEN.started, .rc, .log, .stopped) of every run
// whose files are all older than MarkerRetention (30 days: find -mtime
// +30, by the host's own clock) and whose .started names no live process
// group; a claim ("-") names none. Only plain names of the marker
// directory are looked at (-prune), and never through a link.
const sweepScript = `(
cd "$d" || exit 0
set -f
young=$(find . ! -name . -prune -type f ! -mtime +30 \( -name '*.started' -o -name '*.rc' -o -name '*.log' -o -name '*.stopped' \))
for m in $(find . ! -name . -prune -type f -mtime +30 \( -name '*.started' -o -name '*.rc' -o -name '*.log' -o -name '*.stopped' \)); do
  b=${m%.*}
  [ -e "$m" ] || continue
  case "
$young" in *"
$b."*) continue ;; esac
  p=
  [ ! -f "$b.started" ] || read p t < "$b.started"
  [ -z "$p" ] || [ "$p" = - ] || ! kill -0 "-$p" || continue
  rm -f "$b.started" "$b.rc" "$b.log" "$b.stopped"
done
) </dev/null >/dev/null 2>&1 &
`

// waitScript reattaches to a detached run: it streams the log until the
// run's process group is gone and exits with the recorded code; a run a
// runbook stopped part-way (.stopped) ends in doubt whatever its code.
func waitScript(markerDir, token, nonce string) string {
	dir, base := markerBase(markerDir, token)
	return fmt.Sprintf(`d=%s
f=%s
[ -e "$f.started" ] || %s
read p t < "$f.started"
( while [ -n "$p" ] && kill -0 "-$p" 2>/dev/null; do sleep 0.1; done ) &
LC_ALL=C tail -n +1 -s 0.05 -f --pid="$!" "$f.log" 2>/dev/null || { wait; cat "$f.log" 2>/dev/null; }
rc=
[ ! -e "$f.rc" ] || read rc < "$f.rc"
[ -n "$rc" ] || %s
[ ! -e "$f.stopped" ] || %s
exit "$rc"
`, dir, base, failWith(nonce, trailerInDoubt), failWith(nonce, trailerInDoubt), failWith(nonce, trailerInDoubt))
}

// markersScript prints one line, "runbook-markers STATE [N]": F code,
// S code (ended with it after a runbook stopped it part-way: in doubt),
// R pid (alive), D pid (dead, no rc), N (never started); before it, where
// the host has /proc/stat, "runbook-boot SECONDS", when it booted (see
// boot.go).
//
// "Never started" must stay true once said: the resume runs the command
// again under a new token. A wrapper whose script was sent before the
// crash may still be on its way (a loaded host, a slow login shell), so
// the answer claims the token: .started is created exclusively, holding
// "-" for a pid, and the wrapper that comes later finds it taken and runs
// nothing. When the marker directory cannot be written, no wrapper can
// start either (it writes .started before anything runs). Builtins only
// (and mkdir, the first time on a host).
func markersScript(markerDir, token string) string {
	dir, base := markerBase(markerDir, token)
	return fmt.Sprintf(`d=%s
f=%s
while read k v; do [ "$k" != btime ] || { echo "runbook-boot $v"; break; }; done 2>/dev/null < /proc/stat
rc=
[ ! -e "$f.rc" ] || read rc < "$f.rc"
if [ -n "$rc" ]; then [ -e "$f.stopped" ] && echo "runbook-markers S $rc" || echo "runbook-markers F $rc"; exit 0; fi
if [ ! -e "$f.started" ]; then
  [ -d "$d" ] || (umask 077 && mkdir -p "$d") 2>/dev/null
  set -C
  { echo "- never started: settled" > "$f.started"; } 2>/dev/null && { echo "runbook-markers N"; exit 0; }
  set +C
  [ -e "$f.started" ] || { echo "runbook-markers N"; exit 0; }
fi
read p t < "$f.started"
if [ "$p" = - ]; then echo "runbook-markers N"
elif [ -n "$p" ] && kill -0 "-$p" 2>/dev/null; then echo "runbook-markers R $p"
else echo "runbook-markers D $p"; fi
`, dir, base)
}

// logScript prints the log of a run that has ended (fetchLog, when SFTP
// cannot read it).
func logScript(markerDir, token string) string {
	dir, base := markerBase(markerDir, token)
	return fmt.Sprintf("d=%s\nf=%s\ncat \"$f.log\"\n", dir, base)
}

func forgetScript(markerDir, token string) string {
	dir, base := markerBase(markerDir, token)
	return fmt.Sprintf("d=%s\nf=%s\nrm -f \"$f.rc\" \"$f.started\" \"$f.log\" \"$f.stopped\"\n", dir, base)
}

// killScript sends sig to the process group of a detached run; with
// stopped, it first marks the run as stopped part-way (<token>.stopped),
// so that the code the run still records is not taken for its outcome.
func killScript(markerDir, token, sig string, stopped bool) string {
	dir, base := markerBase(markerDir, token)
	mark := ""
	if stopped {
		mark = "(umask 077; : > \"$f.stopped\") 2>/dev/null\n"
	}
	return fmt.Sprintf("d=%s\nf=%s\n%sread p t < \"$f.started\" 2>/dev/null && kill -%s \"-$p\" 2>/dev/null\nexit 0\n", dir, base, mark, sig)
}

// hashScript prints the SHA-256 of the first n bytes of p (all of it when
// n < 0), or "runbook-absent", or "runbook-link" when p is a symbolic link
// or not a regular file. With a guard directory it first prints
// "runbook-foreign" when guard is a link, or when it or its parent does
// not belong to the user (test -O: the effective uid owns it), at no cost
// of a round trip. openssl is much faster than coreutils sha256sum; when
// it is missing the shell fails to start it before it reads anything, and
// sha256sum gets the whole input.
func hashScript(p string, n int64, guard string) string {
	q := hostPath(p)
	if n >= 0 {
		return hashChecks(p, guard) + fmt.Sprintf("head -c %d %s | %s\n", n, q, sha256Command)
	}
	return hashChecks(p, guard) + fmt.Sprintf("%s < %s\n", sha256Command, q)
}

// sha256Command hashes its stdin: openssl where there is one, else
// coreutils (see hashScript).
const sha256Command = "{ openssl dgst -sha256 -r 2>/dev/null || sha256sum; }"

// hashChecks is what hashScript checks before it reads p: the guard
// directory, and that p is a regular file and no link.
func hashChecks(p, guard string) string {
	q := hostPath(p)
	var b strings.Builder
	if guard != "" {
		g := hostPath(guard)
		fmt.Fprintf(&b, "{ [ ! -h %s ] && [ -O %s ] && [ -O %s/.. ]; } || { echo runbook-foreign; exit 0; }\n", g, g, g)
	}
	fmt.Fprintf(&b, "[ ! -h %s ] || { echo runbook-link; exit 0; }\n", q)
	fmt.Fprintf(&b, "[ -e %s ] || { echo runbook-absent; exit 0; }\n", q)
	fmt.Fprintf(&b, "[ -f %s ] || { echo runbook-link; exit 0; }\n", q)
	return b.String()
}

// liveHashScript hashes p while it is being written (liveHash): after
// the checks of hashScript it opens p once, and each line it reads on
// stdin, a count of MiB, has dd read that much more of p through the one
// open file (dd stops early at the end of what is there; the next read
// continues where it stopped). At the end of stdin cat reads the rest, to
// the end of the file, and the sum of every byte read, in order, is
// printed. A line "x" ends it without reading more: the upload failed.
func liveHashScript(p, guard string) string {
	return hashChecks(p, guard) + fmt.Sprintf("exec 3< %s || exit 0\n", hostPath(p)) +
		`{ while read n; do [ "$n" = x ] && exit 0; dd bs=1048576 count="$n" <&3 2>/dev/null || exit 0; done; cat <&3; } | ` +
		sha256Command + "\n"
}
