// Package sshdtest starts real OpenSSH sshd processes on 127.0.0.1 for
// tests: each with its own host key, a generated client key, a deploy
// directory and a verbose log. The processes are stopped by PID when the
// test ends.
package sshdtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SSHD is where Debian and most distributions install the daemon.
const SSHD = "/usr/sbin/sshd"

// Options tune one sshd.
type Options struct {
	// HostKeyType is the ssh-keygen -t of the host key; "" means ed25519.
	HostKeyType string
	// ExtraConfig lines are appended to sshd_config.
	ExtraConfig []string
	// ClientKey, when set, is authorized instead of a freshly generated
	// key (so several hosts accept the same key, as in a real fleet).
	ClientKey string
	// OwnHome gives the sessions HOME=Dir/home instead of the test user's
	// home: what runs there (run markers in ~/.runbook/runs, ~ paths)
	// stays in the test's directory and goes with it.
	OwnHome bool
	// SourceRC lets the user's bash source ~/.bashrc for commands, as a
	// stock Debian sshd does: to measure what a heavy rc file costs.
	SourceRC bool
	// PasswordAuth turns on password and keyboard-interactive auth (no
	// PAM: the user's password is whatever /etc/shadow says, so any
	// password a test sends is wrong). Failed attempts show in the log.
	PasswordAuth bool
	// HostCA, the path of a CA private key, makes the host present a
	// certificate of its host key signed by it (principal 127.0.0.1).
	HostCA string
	// SFTPLogLevel, e.g. "DEBUG1", runs OpenSSH's sftp-server program
	// instead of internal-sftp, logging every request at that level (a
	// write's offset and length among them) to Host.SFTPLogFile. Only the
	// program can: internal-sftp logs to syslog, or with -e into the
	// session's stderr, which goes to the client.
	SFTPLogLevel string
}

// Host is one running sshd.
type Host struct {
	Addr      string // 127.0.0.1:PORT
	Port      int
	User      string // the user the tests run as
	Dir       string // the harness's temp dir (config, keys, log)
	DeployDir string // an empty directory for deployments
	ClientKey string // path of an unencrypted private key sshd accepts
	// HostKey is the host's public key in authorized_keys format without
	// a comment ("ssh-ed25519 AAAA...").
	HostKey string
	LogFile string
	// SFTPLogFile is the SFTP server's log with Options.SFTPLogLevel.
	SFTPLogFile string
	PID         int
	// Home is the sessions' HOME with Options.OwnHome, else "".
	Home string

	sourceRC bool
	sftpLog  string
	password bool
	hostCert string
}

// KnownHostsLine is the known_hosts line for this host's address and key.
func (h *Host) KnownHostsLine() string { return h.KnownHostsLineAt(h.Addr) }

// KnownHostsLineAt is the known_hosts line for this host's key reached
// at addr (127.0.0.1:PORT, a proxy in front of it).
func (h *Host) KnownHostsLineAt(addr string) string {
	_, port, _ := strings.Cut(addr, ":")
	return fmt.Sprintf("[127.0.0.1]:%s %s", port, strings.TrimSpace(h.HostKey))
}

// WriteKnownHosts writes a known_hosts file holding this host's key and
// returns its path.
func (h *Host) WriteKnownHosts(t testing.TB) string {
	t.Helper()
	return h.WriteKnownHostsAt(t, h.Addr)
}

// WriteKnownHostsAt is WriteKnownHosts for this host reached at addr (a
// proxy in front of it).
func (h *Host) WriteKnownHostsAt(t testing.TB, addr string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(h.KnownHostsLineAt(addr)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// SFTPServer is OpenSSH's SFTP server program (Debian's path).
const SFTPServer = "/usr/lib/openssh/sftp-server"

// writeLoggedSFTP writes the subsystem command of Options.SFTPLogLevel:
// sftp-server with -e logs to its stderr, which goes to SFTPLogFile.
func (h *Host) writeLoggedSFTP() error {
	if _, err := os.Stat(SFTPServer); err != nil {
		return fmt.Errorf("SFTPLogLevel needs %s (Debian's openssh-sftp-server): %w", SFTPServer, err)
	}
	h.SFTPLogFile = filepath.Join(h.Dir, "sftp.log")
	args := "-e -l " + h.sftpLog
	if h.Home != "" {
		args += " -d " + shellQuote(h.Home)
	}
	script := fmt.Sprintf("#!/bin/sh\nexec %s %s 2>>%s\n", SFTPServer, args, shellQuote(h.SFTPLogFile))
	return os.WriteFile(filepath.Join(h.Dir, "sftp-logged"), []byte(script), 0o755)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// SFTPLog returns the SFTP server's log so far (Options.SFTPLogLevel).
func (h *Host) SFTPLog() string {
	b, _ := os.ReadFile(h.SFTPLogFile)
	return string(b)
}

// Log returns the sshd log so far, for failure messages.
func (h *Host) Log() string {
	b, _ := os.ReadFile(h.LogFile)
	return string(b)
}

// Available reports whether sshd is installed.
func Available() bool {
	_, err := os.Stat(SSHD)
	return err == nil
}

// Start runs one sshd for the test and stops it in t.Cleanup. It skips the
// test only when sshd is not installed.
func Start(t testing.TB, opts Options) *Host {
	t.Helper()
	if !Available() {
		t.Skipf("%s not installed", SSHD)
	}
	h, err := start(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// A session the test left behind (its client gone, its shell still
	// starting) would write into the test's directories while they are
	// being removed: none outlives the test.
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Error(err)
		}
		if err := h.endSessions(nil); err != nil {
			t.Error(err)
		}
	})
	return h
}

// StartDir is Start without a testing.TB, for benchmark programs: dir must
// exist and be writable; the caller must call Stop.
func StartDir(dir string, opts Options) (*Host, error) {
	if !Available() {
		return nil, fmt.Errorf("%s not installed: install openssh-server", SSHD)
	}
	return start(dir, opts)
}

func start(dir string, opts Options) (*Host, error) {
	// sshd refuses to start without its privilege separation directory,
	// which a fresh container may lack; creating it needs root, as does
	// running sshd for anyone but oneself, so a failure here is not fatal.
	_ = os.MkdirAll("/run/sshd", 0o755)
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("current user: %w", err)
	}
	h := &Host{User: u.Username, Dir: dir, DeployDir: filepath.Join(dir, "deploy"), LogFile: filepath.Join(dir, "sshd.log"), sourceRC: opts.SourceRC, sftpLog: opts.SFTPLogLevel, password: opts.PasswordAuth}
	if err := os.MkdirAll(h.DeployDir, 0o755); err != nil {
		return nil, err
	}
	if opts.OwnHome {
		h.Home = filepath.Join(dir, "home")
		if err := os.MkdirAll(h.Home, 0o700); err != nil {
			return nil, err
		}
	}
	if h.sftpLog != "" {
		if err := h.writeLoggedSFTP(); err != nil {
			return nil, err
		}
	}
	typ := opts.HostKeyType
	if typ == "" {
		typ = "ed25519"
	}
	hostKey := filepath.Join(dir, "host_key")
	if err := keygen(typ, hostKey); err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return nil, err
	}
	// Without the comment, as knownhosts writes it.
	if f := strings.Fields(string(pub)); len(f) >= 2 {
		h.HostKey = f[0] + " " + f[1]
	}
	if opts.HostCA != "" {
		out, err := exec.Command("ssh-keygen", "-q", "-s", opts.HostCA, "-h", "-I", "sshdtest", "-n", "127.0.0.1", hostKey+".pub").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("sign the host key: %v: %s", err, bytes.TrimSpace(out))
		}
		h.hostCert = hostKey + "-cert.pub"
	}

	h.ClientKey = opts.ClientKey
	if h.ClientKey == "" {
		h.ClientKey = filepath.Join(dir, "client_key")
		if err := keygen("ed25519", h.ClientKey); err != nil {
			return nil, err
		}
	}
	cpub, err := os.ReadFile(h.ClientKey + ".pub")
	if err != nil {
		return nil, fmt.Errorf("client public key: %w", err)
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, cpub, 0o600); err != nil {
		return nil, err
	}

	// Ports are picked free and may be taken again before sshd binds: a
	// few attempts make that race harmless.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		h.Port, h.Addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cfg := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(cfg, []byte(config(h, hostKey, authKeys, opts.ExtraConfig)), 0o600); err != nil {
			return nil, err
		}
		if lastErr = h.run(cfg); lastErr == nil {
			return h, nil
		}
	}
	return nil, lastErr
}

func config(h *Host, hostKey, authKeys string, extra []string) string {
	// sshd takes only the first SetEnv line, so HOME shares SHLVL's; a
	// SetEnv value overrides the HOME of the password file.
	homeEnv := ""
	if h.Home != "" {
		homeEnv = ` "HOME=` + h.Home + `"`
	}
	// Debian's bash sources ~/.bashrc for commands run by sshd unless
	// SHLVL says it is nested; a developer's heavy .bashrc would then add
	// its start-up time to every session and skew every measurement.
	// The transport itself does not care which shell the user has.
	// The SFTP server starts in the same home as the sessions, as it does
	// on a real host (where both are the user's home of the password
	// file): run markers removed through SFTP are the ones a session wrote.
	sftp := "Subsystem sftp internal-sftp"
	if h.Home != "" {
		sftp += " -d " + h.Home
	}
	if h.sftpLog != "" {
		sftp = "Subsystem sftp " + filepath.Join(h.Dir, "sftp-logged")
	}
	// Every session carries the host's mark, so that the processes it
	// started can be found and ended even after their sshd has gone.
	env := `SetEnv "` + h.mark() + `"` + homeEnv
	if !h.sourceRC {
		env += " SHLVL=1"
	}
	lines := []string{
		"ListenAddress 127.0.0.1",
		"Port " + strconv.Itoa(h.Port),
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + authKeys,
		"PidFile " + filepath.Join(h.Dir, "sshd.pid"),
		"StrictModes no",
		"UsePAM no",
		"PermitRootLogin yes",
		"PasswordAuthentication " + yesNo(h.password),
		"KbdInteractiveAuthentication " + yesNo(h.password),
		sftp,
		"AllowTcpForwarding yes",
		"PermitTunnel no",
		"X11Forwarding no",
		"PrintMotd no",
		"UseDNS no",
		// Many parallel test connections must not be throttled.
		"MaxStartups 100:30:200",
		"MaxSessions 100",
		"LogLevel VERBOSE",
		env,
	}
	if h.hostCert != "" {
		lines = append(lines, "HostCertificate "+h.hostCert)
	}
	lines = append(lines, extra...)
	return strings.Join(lines, "\n") + "\n"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (h *Host) run(cfg string) error {
	logf, err := os.OpenFile(h.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	// sshd refuses to start unless run by its absolute path.
	cmd := exec.Command(SSHD, "-D", "-e", "-f", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so Stop also ends the per-connection children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	h.PID = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			h.PID = 0
			return fmt.Errorf("sshd exited at start (%v): %s", err, h.Log())
		default:
		}
		if c, err := net.DialTimeout("tcp", h.Addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = h.Stop()
	return fmt.Errorf("sshd on %s did not accept within 20s: %s", h.Addr, h.Log())
}

// Stop ends the sshd and its connection children by its process group.
// Idempotent.
func (h *Host) Stop() error {
	if h.PID == 0 {
		return nil
	}
	pid := h.PID
	h.PID = 0
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("stop sshd %d: %w", pid, err)
	}
	return nil
}

// Crash ends the sshd as a machine that dies would: the daemon and every
// process it started (its connection children leave its process group,
// so Stop alone lets them run on; a session's shell may have outlived its
// connection), each by its PID, with SIGKILL. Restart brings it back.
// Idempotent.
func (h *Host) Crash() error {
	if h.PID == 0 {
		return nil
	}
	conns := descendants(h.PID)
	err := h.Stop()
	if e := h.endSessions(conns); e != nil && err == nil {
		err = e
	}
	return err
}

// Restart starts the sshd again after Stop: the same port, host key and
// configuration, as a host that comes back after a crash.
func (h *Host) Restart() error {
	if h.PID != 0 {
		return fmt.Errorf("sshd on %s is still running (pid %d)", h.Addr, h.PID)
	}
	return h.run(filepath.Join(h.Dir, "sshd_config"))
}

// Keygen writes a new unencrypted key pair of type typ (ssh-keygen -t) at
// path and path.pub, e.g. a CA for Options.HostCA.
func Keygen(typ, path string) error { return keygen(typ, path) }

func keygen(typ, path string) error {
	args := []string{"-q", "-t", typ, "-N", "", "-C", "sshdtest", "-f", path}
	if typ == "rsa" {
		args = append(args, "-b", "2048")
	}
	out, err := exec.Command("ssh-keygen", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh-keygen -t %s: %v: %s", typ, err, bytes.TrimSpace(out))
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartBehind starts n hosts that accept pre's client key, the production
// hosts of a relay or jump host test, named prod1…prodN. It returns them,
// their known_hosts lines, and their entries for the `hosts:` list of a
// runbook environment (indented six spaces).
func StartBehind(t testing.TB, pre *Host, n int) (hosts []*Host, knownHosts, entries string) {
	t.Helper()
	var kh, list strings.Builder
	for i := range n {
		h := Start(t, Options{ClientKey: pre.ClientKey})
		hosts = append(hosts, h)
		kh.WriteString(h.KnownHostsLine() + "\n")
		fmt.Fprintf(&list, "      - {name: prod%d, address: \"%s\", deploy_dir: %s}\n", i+1, h.Addr, h.DeployDir)
	}
	return hosts, kh.String(), list.String()
}
