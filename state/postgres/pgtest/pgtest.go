// Package pgtest starts a real PostgreSQL server for tests, the way
// httptest starts an HTTP server: initdb and postgres from the Debian
// packages (/usr/lib/postgresql/<major>/bin, or PGBIN), a cluster in a
// temporary directory, listening on a free port of 127.0.0.1 only, with
// password authentication, stopped by its PID. PostgreSQL refuses to run
// as root, so under root (CI) the cluster belongs to, and the server runs
// as, the unprivileged user nobody.
//
// It talks to the server with the psql of the same packages, so that it
// needs no driver: the store under test is the only PostgreSQL client
// that the code under test links.
package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// User and Password are the superuser of every cluster.
const (
	User     = "runbook"
	Password = "pgtest-secret"
)

// Cluster is one running PostgreSQL server.
type Cluster struct {
	Dir  string // the cluster's data directory
	Port int

	bin  string
	cred *syscall.Credential // nil: run as this process's user

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once the server has exited
	log  *os.File
}

// Bin returns the directory of the PostgreSQL programs: PGBIN, else the
// newest of Debian's /usr/lib/postgresql/*/bin; "" when there is none.
func Bin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range append([]string{os.Getenv("PGBIN")}, dirs...) {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// major is the version in /usr/lib/postgresql/<major>/bin.
func major(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start creates a cluster in a new temporary directory and starts its
// server. Stop removes both.
func Start() (*Cluster, error) {
	bin := Bin()
	if bin == "" {
		return nil, errors.New("pgtest: PostgreSQL is not installed (apt-get install postgresql, or set PGBIN)")
	}
	root, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: filepath.Join(root, "data"), bin: bin}
	if os.Geteuid() == 0 {
		// The server's user must reach its data directory: the temporary
		// directory is opened to it, the data directory is its own.
		c.cred = &syscall.Credential{Uid: 65534, Gid: 65534} // nobody:nogroup
		if err := os.Chmod(root, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(c.Dir, 0o700); err != nil {
		return nil, err
	}
	pw := filepath.Join(root, "pwfile")
	if err := os.WriteFile(pw, []byte(Password+"\n"), 0o644); err != nil {
		return nil, err
	}
	if c.cred != nil {
		for _, p := range []string{c.Dir, pw} {
			if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	initdb := c.command("initdb", "-D", c.Dir, "-U", User, "--pwfile", pw, "-E", "UTF8", "--locale", "C",
		"--auth-host", "scram-sha-256", "--auth-local", "scram-sha-256", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	_ = os.Remove(pw)
	if err := c.start(); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = filepath.Dir(c.Dir)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// start runs the server on a free port of 127.0.0.1 (the one it had,
// after a Stop) and waits until it accepts connections.
func (c *Cluster) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for try := 0; ; try++ {
		if c.Port == 0 || try > 0 {
			p, err := freePort()
			if err != nil {
				return err
			}
			c.Port = p
		}
		err := c.startOn()
		if err == nil || try == 4 {
			return err
		}
	}
}

func (c *Cluster) startOn() error {
	log, err := os.OpenFile(filepath.Join(filepath.Dir(c.Dir), "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := c.command("postgres", "-D", c.Dir, "-p", strconv.Itoa(c.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "max_connections=200", "-c", "synchronous_commit=on", "-c", "fsync=on")
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a test's Ctrl-C is not the server's.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := exec.Command(filepath.Join(c.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-t", "1")
		if ready.Run() == nil {
			break
		}
		select {
		case <-exited:
			log.Close()
			b, _ := os.ReadFile(log.Name())
			return fmt.Errorf("pgtest: postgres exited at start:\n%s", tail(b))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			log.Close()
			return errors.New("pgtest: postgres did not accept connections within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.cmd, c.done, c.log = cmd, exited, log
	return nil
}

// PID returns the server's process id, 0 while it is stopped.
func (c *Cluster) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Stop shuts the server down (a fast shutdown: SIGINT to its PID) and
// waits for it to exit; the cluster stays, for Restart.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return nil
	}
	pid := c.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("pgtest: stop postgres (pid %d): %w", pid, err)
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-c.done
	}
	c.cmd = nil
	c.log.Close()
	return nil
}

// Restart starts the stopped server again, on the same port.
func (c *Cluster) Restart() error { return c.start() }

// Remove stops the server and removes the cluster.
func (c *Cluster) Remove() error {
	err := c.Stop()
	return errors.Join(err, os.RemoveAll(filepath.Dir(c.Dir)))
}

// URL returns the URL of database db, with the password when withPassword.
func (c *Cluster) URL(db string, withPassword bool) string {
	cred := User
	if withPassword {
		cred += ":" + Password
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", cred, c.Port, db)
}

// Psql runs sql in database db and returns what psql printed (unaligned,
// tuples only).
func (c *Cluster) Psql(db, sql string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", User, "-d", db, "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+Password, "PGCONNECT_TIMEOUT=10")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql %q: %v: %s", sql, err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

var dbSeq atomic.Int64

// NewDatabase creates an empty database and returns its name.
func (c *Cluster) NewDatabase() (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	_, err := c.Psql("postgres", "CREATE DATABASE "+name)
	return name, err
}

// The cluster of the tests of one package: Shared starts it on first
// use, and the package's TestMain calls Main to remove it.
var (
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error
)

// Shared returns the package's cluster, started on first use.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// Database creates a fresh database on the shared cluster and returns its
// URL (with the password).
func Database(t testing.TB) string {
	t.Helper()
	c := Shared(t)
	name, err := c.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return c.URL(name, true)
}

// Main runs the tests of a package and removes its shared cluster.
func Main(m *testing.M) {
	code := m.Run()
	RemoveShared()
	os.Exit(code)
}

// RemoveShared stops and removes the shared cluster, if one was started
// (for a TestMain that does more than Main).
func RemoveShared() {
	if shared != nil {
		if err := shared.Remove(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// DropDatabase removes database name (its connections ended).
func (c *Cluster) DropDatabase(name string) error {
	_, err := c.Psql("postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	return err
}

// CloneDatabase makes database to a copy of from, which nothing may be
// connected to.
func (c *Cluster) CloneDatabase(from, to string) error {
	_, err := c.Psql("postgres", "CREATE DATABASE "+to+" TEMPLATE "+from)
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
