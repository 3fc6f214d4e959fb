// Command floorfleet is the floor of issue 18's night (BENCHMARKS.md,
// "One hundred hosts"): the smallest program that does only that night's
// work on the fleet of scripts/benchfleet, the way that costs the hosts
// and this machine the least, and nothing else — no record, no run
// markers, no wrapper, no prompts, no output but the times.
//
// Per host: one SSH connection (publickey, known_hosts checked,
// aes128-gcm), one `sh` session kept open for every command, which runs
// in that shell itself (a builtin forks nothing), and one SFTP session.
// The night: the six trivial commands; the 16 MiB artifact in ordered
// 128 KiB writes (the cheapest measured here), fsynced, hashed on the
// host by openssl, renamed; `current` switched by an SFTP symlink and
// rename; the restart and its verify. Step by step, -parallel hosts at a
// time, as runbook, the script and Ansible do.
//
//	floorfleet -hosts FLEET/hosts -known FLEET/known_hosts -file app.ear -parallel 20 \
//		-restart 'RESTART' -verify 'VERIFY' 'CHECK-1' ... 'CHECK-6'
//
// scripts/bench-fleet.sh runs it as its "floor" row, with the night's
// commands. It prints each step's milliseconds and the night's seconds.
//
// What is left out, runbook must do on top: the durable record of every
// host run, the markers that let a killed run be found, the process
// group that lets a timeout end a command's children.
//
// With -record FILE it does those too, the cheapest way this author
// knows, and is the floor of a tool with runbook's guarantees (the
// "guarded floor" row of scripts/bench-fleet.sh): every host run's
// intent is appended to FILE and fsynced before the run starts, its
// outcome after it ends (one fsync for all that are waiting: a group
// commit); a command runs as `setsid sh -c` in a process group of its
// own, which writes TOKEN.started (exclusively, with the group's id)
// before the command and TOKEN.rc after it, under ~/.floor on the host;
// the two markers are removed through SFTP once the outcome is
// recorded. Nothing else: no output is kept, no run is resumed.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// host is one line of benchfleet's hosts file and its open connection.
type host struct {
	name, addr, user, key, deploy string

	client  *ssh.Client
	in      io.WriteCloser
	out     *bufio.Reader
	sc      *sftp.Client
	runs    int      // commands run with markers, for their tokens
	pending []string // their tokens, until their outcome is recorded
}

const version = "1.0.0"

// step is one step of the night, done on one host.
type step struct {
	name string
	do   func(*host) error
}

func main() {
	hostsFile := flag.String("hosts", "", "the fleet's hosts file")
	known := flag.String("known", "", "known_hosts")
	file := flag.String("file", "", "the artifact")
	parallel := flag.Int("parallel", 20, "hosts at a time")
	restart := flag.String("restart", "", "the restart command ($D the deploy directory, $V the version)")
	verify := flag.String("verify", "", "its verify command (the same variables)")
	recordFile := flag.String("record", "", "keep a durable record in this file, and markers and a process group for every command")
	flag.Parse()
	cmds := flag.Args() // the trivial commands, a step each
	hosts, err := readHosts(*hostsFile)
	check(err)
	hk, err := knownhosts.New(*known)
	check(err)
	data, err := os.ReadFile(*file)
	check(err)
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])

	var rec *record
	if *recordFile != "" {
		rec, err = openRecord(*recordFile)
		check(err)
		defer rec.close()
	}
	var steps []step
	for i, c := range cmds {
		steps = append(steps, step{fmt.Sprintf("check-%d", i+1), func(h *host) error { return h.command(rec, c) }})
	}
	steps = append(steps, step{"stage", func(h *host) error { return h.stage(data, sum) }},
		step{"activate", func(h *host) error {
			tmp := path.Join(h.deploy, ".current.new")
			if err := h.sc.Symlink("releases/"+version, tmp); err != nil {
				return err
			}
			return h.sc.PosixRename(tmp, path.Join(h.deploy, "current"))
		}},
		step{"restart", func(h *host) error {
			vars := "D=" + shq(h.deploy) + "; V=" + version + "; "
			if err := h.command(rec, vars+*restart); err != nil {
				return err
			}
			return h.run(vars + *verify)
		}})

	start := time.Now()
	for _, st := range steps {
		t0 := time.Now()
		sem := make(chan struct{}, *parallel)
		var wg sync.WaitGroup
		errs := make([]error, len(hosts))
		for i, h := range hosts {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				// The first step connects (runbook's preflight does).
				if h.client == nil {
					if errs[i] = h.connect(hk); errs[i] != nil {
						return
					}
				}
				if rec == nil {
					errs[i] = st.do(h)
					return
				}
				// The step's intent and outcome on this host, durable.
				if errs[i] = rec.commit("intent " + st.name + " " + h.name); errs[i] != nil {
					return
				}
				if errs[i] = st.do(h); errs[i] != nil {
					return
				}
				if errs[i] = rec.commit("done " + st.name + " " + h.name); errs[i] != nil {
					return
				}
				errs[i] = h.forget()
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				check(fmt.Errorf("%s on %s: %w", st.name, hosts[i].name, err))
			}
		}
		fmt.Printf("%s %.0f\n", st.name, time.Since(t0).Seconds()*1000)
	}
	for _, h := range hosts {
		h.in.Close()
		h.client.Close()
	}
	fmt.Printf("night %.2f\n", time.Since(start).Seconds())
}

func (h *host) connect(hk ssh.HostKeyCallback) error {
	pem, err := os.ReadFile(h.key)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return err
	}
	cfg := &ssh.ClientConfig{User: h.user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk, Timeout: 30 * time.Second}
	cfg.Ciphers = []string{"aes128-gcm@openssh.com"}
	if h.client, err = ssh.Dial("tcp", h.addr, cfg); err != nil {
		return err
	}
	s, err := h.client.NewSession()
	if err != nil {
		return err
	}
	if h.in, err = s.StdinPipe(); err != nil {
		return err
	}
	out, err := s.StdoutPipe()
	if err != nil {
		return err
	}
	h.out = bufio.NewReader(out)
	if err := s.Start("exec sh"); err != nil {
		return err
	}
	if h.sc, err = sftp.NewClient(h.client, sftp.MaxPacketUnchecked(131072), sftp.MaxConcurrentRequestsPerFile(2)); err != nil {
		return err
	}
	return h.run(`cd "$HOME" && mkdir -p .floor`)
}

// command runs cmd as a run of the night: in the host's shell without a
// record, else in a process group of its own with markers (see -record).
func (h *host) command(rec *record, cmd string) error {
	if rec == nil {
		return h.run(cmd)
	}
	h.runs++
	token := fmt.Sprintf("%s-%d", h.name, h.runs)
	err := h.run(`setsid sh -c 'f=$HOME/.floor/$1; set -C; echo "$$" > "$f.started" || exit 97; set +C; eval "$2"; r=$?; echo "$r" > "$f.rc"; exit "$r"' sh ` + shq(token) + ` ` + shq(cmd))
	h.pending = append(h.pending, token)
	return err
}

// forget removes the markers of the commands run since the last forget,
// once their outcome is recorded. Sent together, as runbook does: one
// round trip.
func (h *host) forget() error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, token := range h.pending {
		for _, ext := range []string{".started", ".rc"} {
			wg.Go(func() {
				if err := h.sc.Remove(".floor/" + token + ext); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	h.pending = h.pending[:0]
	return errors.Join(errs...)
}

// record is an append-only file every line of which is durable before
// commit returns; lines committed at once share one fsync.
type record struct {
	f    *os.File
	reqs chan recReq
	done chan struct{}
}

type recReq struct {
	line string
	err  chan error
}

func openRecord(p string) (*record, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	r := &record{f: f, reqs: make(chan recReq, 256), done: make(chan struct{})}
	go r.loop()
	return r, nil
}

func (r *record) commit(line string) error {
	req := recReq{line: line + "\n", err: make(chan error, 1)}
	r.reqs <- req
	return <-req.err
}

// loop writes what is waiting and syncs it once for all.
func (r *record) loop() {
	defer close(r.done)
	for req := range r.reqs {
		batch := []recReq{req}
	more:
		for {
			select {
			case q, ok := <-r.reqs:
				if !ok {
					break more
				}
				batch = append(batch, q)
			default:
				break more
			}
		}
		var b strings.Builder
		for _, q := range batch {
			b.WriteString(q.line)
		}
		_, err := r.f.WriteString(b.String())
		if err == nil {
			err = r.f.Sync()
		}
		for _, q := range batch {
			q.err <- err
		}
	}
}

func (r *record) close() {
	close(r.reqs)
	<-r.done
	_ = r.f.Close()
}

// run runs cmd in the host's shell and reads its output up to the line
// that gives its exit code.
func (h *host) run(cmd string) error {
	if _, err := fmt.Fprintf(h.in, "{ %s\n} </dev/null\necho \"\n:rc $?\"\n", cmd); err != nil {
		return err
	}
	for {
		line, err := h.out.ReadString('\n')
		if err != nil {
			return err
		}
		if rc, ok := strings.CutPrefix(strings.TrimSpace(line), ":rc "); ok {
			if rc != "0" {
				return fmt.Errorf("%q exited %s", cmd, rc)
			}
			return nil
		}
	}
}

func (h *host) stage(data []byte, sum string) error {
	dir := path.Join(h.deploy, "releases", version)
	if err := h.sc.MkdirAll(dir); err != nil {
		return err
	}
	part := path.Join(dir, ".app.ear.part")
	f, err := h.sc.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	if _, err := f.ReadFromWithConcurrency(bytes.NewReader(data), 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := h.run(`openssl dgst -sha256 -r ` + shq(part) + ` | { read s _; test "$s" = ` + sum + `; }`); err != nil {
		return err
	}
	return h.sc.PosixRename(part, path.Join(dir, "app.ear"))
}

func readHosts(p string) ([]*host, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var hosts []*host
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			return nil, fmt.Errorf("port %q", f[1])
		}
		hosts = append(hosts, &host{name: f[0], addr: net.JoinHostPort("127.0.0.1", f[1]), user: f[2], key: f[3], deploy: f[4]})
	}
	return hosts, nil
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorfleet:", err)
		os.Exit(1)
	}
}
