package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// RelaySpec stages a file on a host from a copy on a relay host.
type RelaySpec struct {
	// UploadSpec is what Upload would stage: Local is the artifact on the
	// operator's machine, which gives the size and against which a
	// partial copy on the host is checked before it is resumed.
	UploadSpec
	// From is the copy of Local on the relay host: complete and verified
	// there against UploadSpec.SHA256, or still being staged, in which
	// case the copy follows it as it grows.
	From *RelayCopy
	// KeyFile, when set, is a private key file on the relay host with
	// which the relay logs in to this host (its own key); nothing is
	// lent then. When empty, this host's keys are lent (see Relayer).
	KeyFile string
}

// Relayer is implemented by the Conns of SSH hosts.
type Relayer interface {
	// UploadVia stages spec on this host as Upload does (temp name, synced,
	// checked by SHA-256 on this host against spec.SHA256, renamed; skipped
	// when there already; resumed from a verified prefix), except that the
	// bytes come from spec.From on the relay host, sent there by OpenSSH's
	// sftp. While spec.From is being staged, the bytes that have landed on
	// the relay are sent as they land; the copy is renamed only once
	// spec.From is complete and verified on the relay, and fails when
	// spec.From fails. That sftp logs in to this host with this host's own
	// keys, which runbook lends it through a forwarded agent for the copy
	// alone (no key is ever written on the relay), or with spec.KeyFile,
	// the relay's own key, when set; and it accepts only the host key that
	// known_hosts vouched for when runbook connected here, with
	// StrictHostKeyChecking. relay is a Conn of the same Pool. The
	// operator's link carries only this host's control traffic: the
	// checksum and the rename are runbook's, over this host's connection.
	UploadVia(ctx context.Context, relay Conn, spec RelaySpec) (UploadResult, error)
}

var _ Relayer = (*sshConn)(nil)

// RelayCopy is the artifact on a relay host that the copies of a step are
// sent from: complete, or being staged there by an Upload, which tells it
// how far it has landed (UploadSpec.Landed) so that the copies can follow
// it. Its methods are safe for concurrent use.
type RelayCopy struct {
	mu      sync.Mutex
	changed chan struct{} // closed, and replaced, on every change
	path    string        // the copy's path on the relay once it is complete
	part    string        // its temp path while it is staged, "" if none
	landed  int64         // bytes of it that are on the relay, in order
	done    bool          // complete and verified, or failed (err)
	err     error
}

// StagedCopy is a complete copy at p on the relay, verified there.
func StagedCopy(p string) *RelayCopy {
	return &RelayCopy{changed: make(chan struct{}), path: p, done: true}
}

// NewRelayCopy is a copy that is yet to be found or staged on the relay:
// copies from it wait until some of it has landed (Staging) or it is
// finished (Finish).
func NewRelayCopy() *RelayCopy {
	return &RelayCopy{changed: make(chan struct{})}
}

// Staging says that spec is about to stage the copy, and sets
// spec.Landed so that the copies follow it as it lands; Finish says how
// it ended.
func (rc *RelayCopy) Staging(spec *UploadSpec) {
	rc.mu.Lock()
	rc.path = path.Join(spec.Dir, spec.Name)
	rc.part = path.Join(spec.Dir, partName(spec.Name))
	rc.mu.Unlock()
	spec.Landed = rc.setLanded
}

func (rc *RelayCopy) setLanded(n int64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if n > rc.landed {
		rc.landed = n
		rc.changedLocked()
	}
}

// Finish says that the copy is complete at p and verified against the
// checksum of record (err nil), or that it failed.
func (rc *RelayCopy) Finish(p string, err error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.path, rc.done, rc.err = p, true, err
	rc.changedLocked()
}

func (rc *RelayCopy) changedLocked() {
	close(rc.changed)
	rc.changed = make(chan struct{})
}

// relayState is what a copy from a RelayCopy knows of it at one moment.
type relayState struct {
	path, part string
	landed     int64
	done       bool
	err        error
	changed    <-chan struct{} // closed at the next change
}

func (rc *RelayCopy) state() relayState {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return relayState{path: rc.path, part: rc.part, landed: rc.landed, done: rc.done, err: rc.err, changed: rc.changed}
}

// has reports whether the copy has landed past n bytes or is done (over
// all of it), in which case a copy can start sending from n.
func (s relayState) has(n int64) bool { return s.done || s.landed > n }

// UploadVia implements Relayer.
func (c *sshConn) UploadVia(ctx context.Context, relay Conn, spec RelaySpec) (res UploadResult, err error) {
	r, ok := relay.(*sshConn)
	if !ok || r.pool != c.pool {
		return UploadResult{}, fmt.Errorf("relay for %s: it must be an SSH host of the same run", c.name())
	}
	if spec.From == nil {
		return UploadResult{}, fmt.Errorf("relay for %s: no copy to send from", c.name())
	}
	err = c.withFS(ctx, func(f *sftpFS) error {
		res, err = stage(ctx, &relayedFS{sftpFS: f, relay: r, from: spec.From, keyFile: spec.KeyFile}, spec.UploadSpec)
		return err
	})
	return res, err
}

// relayedFS is a host's file system through SFTP whose uploads the relay
// sends: only write differs from sftpFS.
type relayedFS struct {
	*sftpFS
	relay   *sshConn
	from    *RelayCopy
	keyFile string // the relay's own key; "" lends the host's
}

// relayPoll is how often the size of a relayed copy is read for progress.
const relayPoll = 250 * time.Millisecond

// relayStep is how much more of a relay's copy that is still landing
// makes a copy from it run another round (an sftp put, a few round trips
// on the data-centre network each).
const relayStep = 4 << 20

func (f *relayedFS) write(ctx context.Context, p string, offset int64, r *uploadReader) (wrote, error) {
	file, err := f.openPart(p, offset)
	if err != nil {
		return wrote{}, err
	}
	file.Close()
	if offset >= r.total {
		// Nothing left to send (an empty artifact).
		r.done = r.total
		return wrote{synced: time.Now()}, f.relayVerified(ctx)
	}
	// Wait for the relay's copy to have bytes past the prefix here (its
	// temp file exists then, or it is complete).
	for st := f.from.state(); !st.has(offset); st = f.from.state() {
		select {
		case <-st.changed:
		case <-ctx.Done():
			return wrote{}, ctx.Err()
		}
	}
	if st := f.from.state(); st.err != nil {
		return wrote{}, st.err
	}
	target, err := f.c.pool.client(ctx, f.c.cfg, 0)
	if err != nil {
		return wrote{}, err
	}
	t, err := f.c.pool.resolve(f.c.cfg)
	if err != nil {
		return wrote{}, err
	}
	st := f.from.state()
	job := copyJob{from: st.path, to: p, offset: offset, total: r.total, target: f.c.name(), addr: target.addr, user: target.user, hostKey: target.hostKey, keyFile: f.keyFile}
	if !st.done {
		job.part = st.part
	}
	if f.keyFile == "" {
		signers, closer, err := lendable(f.c.cfg, t.identityFiles)
		if err != nil {
			return wrote{}, err
		}
		if closer != nil {
			defer closer.Close()
		}
		if len(signers) == 0 {
			return wrote{}, fmt.Errorf("relay %s cannot log in to %s for runbook: the host logs in with a password, and a relay is lent a key, nothing else: give %s a key, key_file or agent, or let the relay use its own key (relay: {host: %s, key_file: PATH})", f.relay.name(), f.c.name(), f.c.name(), f.relay.name())
		}
		job.signers = signers
	}

	// Progress: the size the copy has on the host, read over runbook's own
	// connection to it.
	stop := make(chan struct{})
	var polled sync.WaitGroup
	polled.Go(func() {
		tick := time.NewTicker(relayPoll)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if fi, err := f.sc.Lstat(p); err == nil {
					report(r.progress, fi.Size(), r.total)
				}
			}
		}
	})
	said, err := f.relay.sendCopy(ctx, job, f.from)
	close(stop)
	polled.Wait()
	if err != nil {
		return wrote{}, err
	}
	// sftp's rounds go on past a failure (one with nothing new fails): the
	// size tells whether they sent it all, and what sftp said why not.
	if fi, err := f.sc.Lstat(p); err != nil || fi.Size() != r.total {
		size := int64(-1)
		if err == nil {
			size = fi.Size()
		}
		return wrote{}, fmt.Errorf("relay %s could not send %s to %s: %s has %d of its %d bytes%s", f.relay.name(), path.Base(job.from), f.c.name(), path.Base(p), size, r.total, lastLines(said, 3))
	}
	// The rounds do not fsync (put -f would, every round): runbook syncs
	// the file once, over its own connection.
	if err := f.syncPart(p); err != nil {
		return wrote{}, err
	}
	synced := time.Now()
	r.done = r.total
	report(r.progress, r.done, r.total)
	return wrote{synced: synced}, f.relayVerified(ctx)
}

// relayVerified waits for the relay's copy to be complete and verified:
// a copy from it must not be renamed into place before, even though its
// own checksum is checked against the checksum of record too.
func (f *relayedFS) relayVerified(ctx context.Context) error {
	for {
		st := f.from.state()
		if st.done {
			return st.err
		}
		select {
		case <-st.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// syncPart syncs the temp file p to the host's stable storage, when its
// SFTP server can.
func (f *relayedFS) syncPart(p string) error {
	if _, ok := f.sc.HasExtension("fsync@openssh.com"); !ok {
		return nil
	}
	file, err := f.sc.OpenFile(p, os.O_WRONLY)
	if err != nil {
		return f.explain(err, p)
	}
	defer file.Close()
	if err := file.Sync(); err != nil {
		return fmt.Errorf("sync %s on %s: %w", p, f.c.name(), err)
	}
	return nil
}

// copyJob is one copy a relay sends.
type copyJob struct {
	from, to string // on the relay, on the target
	// part, when set, is the temp path on the relay of from while it is
	// staged: the job reads it, and from only if it is gone, i.e. renamed.
	part          string
	offset, total int64  // the target has offset bytes; the copy, total
	target        string // the target's name, for messages
	addr          string // the target's host:port, as runbook dialled it
	user          string
	hostKey       ssh.PublicKey // what known_hosts vouched for when runbook connected
	signers       []ssh.Signer  // the target's keys, lent for the copy
	keyFile       string        // or the relay's own key, a path on the relay
}

// relayDir is where a relay's copy jobs keep their files, relative to the
// relay user's home (where SFTP and a session start).
const relayDir = ".runbook/relay"

// sendCopy has the relay host send job.from to the target with OpenSSH's
// sftp, appending to the temp file job.to from its size (runbook cut it
// to a verified prefix); runbook syncs and verifies it afterwards. While
// from is staged on the relay, the copy runs in rounds, one each time
// enough more of it has landed, so that it follows the relay's copy as
// it grows; its last round runs once the relay's copy is all there. It
// returns what the job said. The job runs in a session with a terminal,
// so that sshd hangs it up when the session ends, whatever ends it: a
// copy never outlives runbook's connection to the relay, and a resumed
// upload never meets a writer left over. Its files (the job, the one
// known_hosts line) live in a private directory of the relay user for
// the copy, removed after it; one left by a connection that died is
// removed by the next copy through that relay.
func (c *sshConn) sendCopy(ctx context.Context, job copyJob, from *RelayCopy) (said string, err error) {
	if c.pool.firstRelay(c.cfg) {
		_, _, _ = c.run(ctx, sweepRelayScript)
	}
	var dir string
	if err := c.withFS(ctx, func(f *sftpFS) error {
		dir = path.Join(relayDir, f.jobName())
		files, err := job.files(dir)
		if err != nil {
			return err
		}
		return f.writePrivate(dir, files)
	}); err != nil {
		return "", fmt.Errorf("prepare the copy to %s on relay %s: %w", job.target, c.name(), err)
	}
	defer func() {
		_ = c.withFS(context.WithoutCancel(ctx), func(f *sftpFS) error { return f.sc.RemoveAll(dir) })
	}()

	link, err := c.pool.relayLink(ctx, c.cfg)
	if err != nil {
		return "", fmt.Errorf("connect to relay %s for its copies: %w", c.name(), err)
	}
	defer link.release()
	lent := len(job.signers) > 0
	if lent {
		end := agentForwardOf(link.cl).lend(job.signers)
		defer end()
	}
	sess, err := link.session(lent)
	if err != nil {
		return "", fmt.Errorf("relay %s: %w", c.name(), err)
	}
	defer sess.Close()
	if err := sess.RequestPty("dumb", 24, 200, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
		return "", fmt.Errorf("relay %s refuses a terminal for the copy: %w", c.name(), err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		return "", fmt.Errorf("relay %s: %w", c.name(), err)
	}
	var out bytes.Buffer
	sess.Stdout = &limitWriter{w: &out, n: 16 << 10}
	// The job's paths are relative to the home SFTP wrote them in; a
	// session starts there too on a usual host, and cd makes sure of it.
	if err := sess.Start("cd && exec sh " + dir + "/job"); err != nil {
		return "", fmt.Errorf("start the copy to %s on relay %s: %w", job.target, c.name(), err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sess.Wait() }()
	ended, err := feedCopy(ctx, stdin, job, from, exited)
	if !ended && err == nil {
		ended = true
		select {
		case err = <-exited:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	said = strings.ReplaceAll(out.String(), "\r", "")
	if err == nil {
		return said, nil
	}
	if !ended {
		// The relay's copy failed, or the job could not be told more.
		return "", err
	}
	var ee *ssh.ExitError
	if !errors.As(err, &ee) {
		return "", fmt.Errorf("lost relay %s while it sent %s to %s (%v)%s", c.name(), path.Base(job.from), job.target, err, lastLines(said, 3))
	}
	switch {
	case strings.Contains(said, "Host key verification failed") || strings.Contains(said, "REMOTE HOST IDENTIFICATION HAS CHANGED"):
		return "", fmt.Errorf("relay %s refused to send %s to %s: the host showed it another key than the one known_hosts vouched for when runbook connected to it; find out why before you go on (a relay that reaches another machine under that address?)",
			c.name(), path.Base(job.from), job.target)
	case strings.Contains(said, "Permission denied (publickey"):
		return "", fmt.Errorf("relay %s could not send %s to %s: the host refused its own key from the relay; check that it accepts logins from %s%s", c.name(), path.Base(job.from), job.target, c.name(), lastLines(said, 3))
	case ee.ExitStatus() == 127:
		return "", fmt.Errorf("relay %s has no sftp to send %s to %s: install openssh-client there%s", c.name(), path.Base(job.from), job.target, lastLines(said, 3))
	}
	return "", fmt.Errorf("relay %s could not send %s to %s (exit status %d)%s", c.name(), path.Base(job.from), job.target, ee.ExitStatus(), lastLines(said, 3))
}

// feedCopy starts the job's rounds as the relay's copy lands: one each
// relayStep, and the last once all of it is on the relay. It returns
// early with the relay copy's failure, or with ended set and what the
// job's session ended with when it ended before its last round.
func feedCopy(ctx context.Context, stdin io.Writer, job copyJob, from *RelayCopy, exited <-chan error) (ended bool, err error) {
	round := job.offset // what had landed at the last round
	for {
		st := from.state()
		if st.err != nil {
			return false, st.err
		}
		if st.done || st.landed >= job.total {
			if _, err := io.WriteString(stdin, "last\n"); err != nil {
				return false, fmt.Errorf("start the last round of the copy to %s: %w", job.target, err)
			}
			return false, nil
		}
		if st.landed-round >= relayStep {
			if _, err := io.WriteString(stdin, "more\n"); err != nil {
				return false, fmt.Errorf("start a round of the copy to %s: %w", job.target, err)
			}
			round = st.landed
			continue
		}
		select {
		case <-st.changed:
		case err := <-exited:
			if err == nil {
				err = fmt.Errorf("the copy to %s ended before its last round", job.target)
			}
			return true, err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// lastLines returns the last n lines of what a copy said, on one line
// after a colon; "" when it said nothing.
func lastLines(s string, n int) string {
	var lines []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" && strings.Trim(line, "@") != "" {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines[max(0, len(lines)-n):], "; ")
}

// files are the files of the job in dir: the sh script the session runs
// and a known_hosts with the one key of the target.
func (job copyJob) files(dir string) (map[string]string, error) {
	host, port, err := net.SplitHostPort(job.addr)
	if err != nil {
		return nil, fmt.Errorf("address of %s: %w", job.target, err)
	}
	key := job.hostKey
	if key == nil {
		return nil, fmt.Errorf("no host key of %s was seen", job.target)
	}
	if cert, ok := key.(*ssh.Certificate); ok {
		key = cert.Key // pinned as the plain key it certifies
	}
	// The line is for an alias, and the alias is what ssh looks up: no
	// question of how it writes an address (a port, IPv6) in known_hosts.
	const alias = "runbook-relay-target"
	opts := [][2]string{
		{"BatchMode", "yes"},
		{"HostName", host},
		{"Port", port},
		{"User", job.user},
		{"HostKeyAlias", alias},
		{"UserKnownHostsFile", dir + "/known_hosts"},
		{"GlobalKnownHostsFile", "/dev/null"},
		{"StrictHostKeyChecking", "yes"},
		{"HostKeyAlgorithms", strings.Join(hostKeyAlgorithms(key), ",")},
		{"UpdateHostKeys", "no"},
		{"CheckHostIP", "no"},
	}
	if job.keyFile != "" {
		// The relay's own key and nothing else: no agent, lent or not.
		opts = append(opts, [][2]string{{"IdentityFile", job.keyFile}, {"IdentitiesOnly", "yes"}, {"IdentityAgent", "none"}}...)
	} else {
		// Only the keys the forwarded agent lends: no file of the relay's.
		opts = append(opts, [2]string{"IdentityFile", "none"})
	}
	opts = append(opts, [][2]string{
		{"PasswordAuthentication", "no"},
		{"KbdInteractiveAuthentication", "no"},
		{"ControlMaster", "no"},
		{"ControlPath", "none"},
		{"ProxyCommand", "none"},
		{"ForwardAgent", "no"},
		{"Ciphers", "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr"},
		{"Compression", "no"},
		{"ConnectTimeout", "10"},
		{"ServerAliveInterval", "15"},
		{"ServerAliveCountMax", "3"},
		{"LogLevel", "ERROR"},
	}...)
	var b strings.Builder
	b.WriteString("umask 077\necho $$ > " + ShellQuote(dir+"/pid") + "\n")
	// The copy on the relay, through one open file: its temp name while
	// it is staged, which the staging renames once it is complete and
	// verified (the file stays open across that), else its name.
	if job.part != "" {
		b.WriteString("if [ -e " + ShellQuote(job.part) + " ] && command exec 3<" + ShellQuote(job.part) + "; then :; else exec 3<" + ShellQuote(job.from) + "; fi\n")
	} else {
		b.WriteString("exec 3<" + ShellQuote(job.from) + "\n")
	}
	// A round for each line of stdin: sftp's put -a appends to the temp
	// file, from its size, what the copy holds past it (/dev/fd/3 opens
	// the same file again, whatever its name is now). The copy grows in
	// order, so what it holds is what landed. A round with nothing new
	// fails, and - lets the batch go on: runbook checks the size and the
	// checksum of the temp file afterwards. The last line is "last".
	put := "-put -a /dev/fd/3 " + sftpQuote(job.to)
	b.WriteString("while read what; do echo " + ShellQuote(put) + "; [ \"$what\" = last ] && break; done |\n")
	// -F /dev/null: neither the relay user's ssh config nor the system's
	// (-F skips /etc/ssh/ssh_config) has a say. 512 KiB in flight
	// (DESIGN "Relay"): sftp's 32 KiB requests, 16 at a time. Its stdout
	// (the batch echoed) is dropped; what goes wrong comes on stderr.
	b.WriteString("exec sftp -B 32768 -R 16 -F /dev/null -b -")
	for _, o := range opts {
		b.WriteString(" -o " + ShellQuote(o[0]+"="+o[1]))
	}
	b.WriteString(" " + alias + " >/dev/null\n")
	return map[string]string{
		"job":         b.String(),
		"known_hosts": knownhosts.Line([]string{alias}, key) + "\n",
	}, nil
}

// hostKeyAlgorithms are the algorithms that make a host present key.
func hostKeyAlgorithms(key ssh.PublicKey) []string {
	if key.Type() == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return []string{key.Type()}
}

// sftpQuote quotes a path for a command of sftp's batch: in double
// quotes, with \ and " escaped. sftp escapes for its glob what is quoted
// (TestRelayCopyPinsTheHostKeyAndQuotesPaths copies a path with * ? [ ]).
func sftpQuote(p string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range p {
		if r == '\\' || r == '"' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// writePrivate creates dir (mode 0700, its parents too) and the files in
// it (0600), each created exclusively: dir is new and random.
func (f *sftpFS) writePrivate(dir string, files map[string]string) error {
	f.cl.packetMu.RLock()
	defer f.cl.packetMu.RUnlock()
	sc := f.sc
	if err := sc.MkdirAll(path.Dir(dir)); err != nil {
		return err
	}
	if err := sc.Mkdir(dir); err != nil {
		return err
	}
	if err := sc.Chmod(dir, 0o700); err != nil {
		return err
	}
	for name, content := range files {
		p := path.Join(dir, name)
		file, err := sc.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil {
			return err
		}
		if err := file.Chmod(0o600); err != nil {
			file.Close()
			return err
		}
		if _, err := file.Write([]byte(content)); err != nil {
			file.Close()
			return err
		}
		if err := file.Close(); err != nil {
			return err
		}
	}
	return nil
}

// jobName names a copy job's directory after the SFTP server that writes
// it, its owner, from the moment it exists ("RANDOM-PID"; "RANDOM" where
// the host does not tell the pid): until the job has a pid, a sweep
// removes it at once when that server is gone (the relay died in
// between), and keeps it while it lives (the copy is being set up).
func (f *sftpFS) jobName() string {
	name := randomHex(8)
	if owner, ok := f.serverPID(); ok {
		name += "-" + owner
	}
	return name
}

// serverPID is the pid of the process that serves SFTP on the host (an
// sftp-server, or the connection's sshd with internal-sftp), read as the
// link /proc/self resolves to in that process. It lives as long as the
// SFTP session. ok is false where the host has no /proc or the answer is
// not a pid.
func (f *sftpFS) serverPID() (pid string, ok bool) {
	p, err := f.sc.ReadLink("/proc/self")
	if err != nil || p == "" || strings.Trim(p, "0123456789") != "" {
		return "", false
	}
	return p, true
}

// sweepRelayScript removes the job directories of copies whose sftp is
// gone (their connection died before runbook could remove them). A job
// without a pid never got as far as starting one: it is removed when the
// SFTP server that wrote it (its owner, after the last - of its name) is
// gone, or when it is older than ten minutes; until then it may be
// another copy being set up. A job whose pid or owner lives is another
// copy's, under way. A zombie is dead: the sftp of a connection that
// died is one until something reaps it, which a container's first
// process may never do.
const sweepRelayScript = `d="$HOME/` + relayDir + `"
[ -d "$d" ] || exit 0
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' "/proc/$1/status"; }
for j in "$d"/*; do
	[ -d "$j" ] || continue
	p=
	if [ -f "$j/pid" ]; then
		read p < "$j/pid" 2>/dev/null
		alive "$p" && continue
	elif [ -z "$(find "$j" -maxdepth 0 -mmin +10 2>/dev/null)" ]; then
		p=${j##*/}
		case $p in *-*) p=${p##*-} ;; *) continue ;; esac
		case $p in ''|*[!0-9]*) continue ;; esac
		alive "$p" && continue
	fi
	rm -rf "$j"
done
exit 0
`

// relayLink is the connection to a relay host that carries its copy
// jobs, apart from the pooled one: OpenSSH forwards an agent once per
// connection, and the socket it makes on the host then lives as long as
// the connection and is in the environment of every later session. On a
// connection of their own, the copies alone see it, and it goes when the
// last copy under way ends and the connection is closed.
type relayLink struct {
	pool *Pool
	key  string
	cl   *client
	// mu serialises the first session's forwarding request with the
	// sessions that count on it.
	mu         sync.Mutex
	forwarding bool
	users      int // copies under way, under Pool.mu
}

// relayLink returns the copy connection to the relay of cfg, dialled for
// the first copy under way; release it after the copy.
func (p *Pool) relayLink(ctx context.Context, cfg HostConfig) (*relayLink, error) {
	key := poolKey(cfg)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("connect to %s: connection pool closed", cfg.Name)
	}
	l := p.links[key]
	if l != nil && l.cl.alive() {
		l.users++
		p.mu.Unlock()
		return l, nil
	}
	p.mu.Unlock()
	cl, err := p.dial(ctx, cfg, 0, false)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.links[key]; l != nil && l.cl.alive() {
		// Another copy dialled meanwhile: share its link.
		_ = cl.close()
		l.users++
		return l, nil
	}
	l = &relayLink{pool: p, key: key, cl: cl, users: 1}
	p.links[key] = l
	return l, nil
}

// session opens a session on the link, with the agent forwarded when
// forward is set (asked for by the first such session; the later ones
// have the socket already). A copy with the relay's own key does not ask:
// its relay may well forbid agent forwarding.
func (l *relayLink) session(forward bool) (*ssh.Session, error) {
	sess, err := l.cl.ssh.NewSession()
	if err != nil {
		return nil, fmt.Errorf("open a session: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !forward || l.forwarding {
		return sess, nil
	}
	if err := agent.RequestAgentForwarding(sess); err != nil {
		sess.Close()
		return nil, fmt.Errorf("it refuses to forward an agent (%v): its sshd_config must allow it (AllowAgentForwarding yes) for the copies", err)
	}
	l.forwarding = true
	return sess, nil
}

// release ends one copy's use of the link; the last closes it, and with
// it the agent socket on the relay.
func (l *relayLink) release() {
	p := l.pool
	p.mu.Lock()
	l.users--
	last := l.users == 0
	if last && p.links[l.key] == l {
		delete(p.links, l.key)
	}
	p.mu.Unlock()
	if last {
		_ = l.cl.close()
	}
}

// firstRelay reports whether this is the pool's first copy through the
// relay of cfg (then stale job directories are swept), once per host.
func (p *Pool) firstRelay(cfg HostConfig) bool {
	key := poolKey(cfg) + "\x00relay"
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.swept[key] {
		return false
	}
	p.swept[key] = true
	return true
}

// limitWriter keeps the first n bytes written to it and drops the rest.
type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
