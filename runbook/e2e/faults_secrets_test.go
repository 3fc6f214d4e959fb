package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// procWatch scans the command line of every process on the machine, over
// and over, until stopped: what a colleague running `ps auxww` in a loop
// during the night would see.
type procWatch struct {
	traces func([]byte) string

	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	scans   int
	seen    map[string]bool // "pid cmdline" once each
	shells  int             // step shells (sh -s) seen
	runbook int             // runbook processes seen
	leaks   []string
}

func watchProcesses(traces func([]byte) string) *procWatch {
	w := &procWatch{traces: traces, stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]bool{}}
	go w.loop()
	return w
}

func (w *procWatch) loop() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		w.scan()
		// A short pause between sweeps; a sweep itself takes a few ms.
		time.Sleep(time.Millisecond)
	}
}

func (w *procWatch) scan() {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	w.mu.Lock()
	defer w.mu.Unlock()
	w.scans++
	for _, p := range procs {
		// A process may end while we look: what cannot be read is gone.
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		key := filepath.Base(p) + " " + string(cmdline)
		if w.seen[key] {
			continue
		}
		w.seen[key] = true
		if bytes.HasPrefix(cmdline, []byte("sh\x00-s\x00")) || bytes.HasPrefix(cmdline, []byte("/bin/sh\x00-s\x00")) {
			w.shells++
		}
		if bytes.HasPrefix(cmdline, []byte(bin+"\x00")) {
			w.runbook++
		}
		if tr := w.traces(cmdline); tr != "" {
			w.leaks = append(w.leaks, fmt.Sprintf("pid %s: %q holds %q", filepath.Base(p), cmdline, tr))
		}
	}
}

func (w *procWatch) Stop() {
	close(w.stop)
	<-w.done
}

// TestFaultSecretsProcessWatch runs a release against real sshd hosts (one
// behind the other as jump host) whose SSH key comes from the vault and
// whose steps use a vault secret in the script, in an environment
// variable, in verify and check, while a watcher reads the command line of
// every process on the machine, local and "remote" alike (the hosts are
// sshd processes here), as fast as it can. No command line may hold the
// secret, the vault passphrase or the private key.
func TestFaultSecretsProcessWatch(t *testing.T) {
	pre := sshdtest.Start(t, sshdtest.Options{})
	prod := sshdtest.Start(t, sshdtest.Options{ClientKey: pre.ClientKey})
	dir := t.TempDir()
	key := read(t, pre.ClientKey)

	secrets.ScryptWorkFactor = 10 // the binary opens it in milliseconds
	enc, err := secrets.PassphraseEncrypter([]byte(vaultPass))
	if err != nil {
		t.Fatal(err)
	}
	v, err := secrets.Create(filepath.Join(dir, "secrets.vault"), enc)
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{"db/password": testSecret, "ssh/deploy_key": key} {
		if err := v.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Save(); err != nil {
		t.Fatal(err)
	}

	write(t, dir, "known_hosts", pre.KnownHostsLine()+"\n"+prod.KnownHostsLine()+"\n")
	writeRandom(t, filepath.Join(dir, "app.ear"), 1<<20)
	write(t, dir, "runbook.yaml", fmt.Sprintf(`name: watch
known_hosts: known_hosts
artifact: {path: app.ear}
environments:
  pre:
    user: %[1]s
    auth: {key: secret:ssh/deploy_key}
    hosts: [{name: pre1, address: %[2]q, deploy_dir: %[3]s}]
  prod:
    via: pre1
    user: %[1]s
    auth: {key: secret:ssh/deploy_key}
    hosts: [{name: prod1, address: %[4]q, deploy_dir: %[5]s}]
steps:
  - {name: stage-pre, on: pre, upload: artifact}
  - name: migrate
    on: pre
    run: |
      PW='{{ secret "db/password" }}'
      i=0; while [ $i -lt 20 ]; do echo "migrating $i"; sleep 0.05; i=$((i+1)); done
      printf %%s "$PW" | wc -c
    env: {DB_PASSWORD: '{{ secret "db/password" }}'}
    verify: test "$DB_PASSWORD" = '{{ secret "db/password" }}'
  - {name: stage-prod, on: prod, upload: artifact}
  - {name: activate-prod, on: prod, activate: true}
  - name: restart
    on: prod
    run: |
      sleep 0.5
      printf %%s '{{ secret "db/password" }}' | sha256sum
    check: test -n '{{ secret "db/password" }}'
`, pre.User, pre.Addr, pre.DeployDir, prod.Addr, prod.DeployDir))

	// The private key's own bytes: 16-character windows of the second
	// half of its base64 body (the first half is the same for every
	// OpenSSH key).
	var body string
	for _, l := range strings.Split(key, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			body += l
		}
	}
	var keyTraces []string
	for i := len(body) / 2; i+16 <= len(body); i += 4 {
		keyTraces = append(keyTraces, body[i:i+16])
	}
	traces := func(b []byte) string {
		if tr := leakIn(b); tr != "" {
			return tr
		}
		for _, tr := range append(keyTraces, vaultPass) {
			if bytes.Contains(b, []byte(tr)) {
				return tr
			}
		}
		return ""
	}

	w := watchProcesses(traces)
	// The watcher must catch a secret that is there: a planted process
	// with it in its arguments (sh's $0), before the release starts. It
	// waits in a builtin (read) until told to end: a sh that forked a
	// sleep would show the secret in the fork's command line too, for as
	// long as the fork takes to exec, and a loaded machine lets the
	// watcher see that second process.
	canary := exec.Command("sh", "-c", "read x", testSecret)
	end, err := canary.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := canary.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the watcher to catch a planted secret", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.leaks) > 0
	})
	end.Close()
	_ = canary.Wait()
	w.mu.Lock()
	planted := w.leaks
	w.leaks = nil
	w.mu.Unlock()
	if len(planted) != 1 || !strings.Contains(planted[0], fmt.Sprintf("pid %d:", canary.Process.Pid)) {
		t.Fatalf("the watcher caught %q, want the planted process %d only", planted, canary.Process.Pid)
	}

	cmd := exec.Command(bin, "start", "--version", "1.0", "--yes")
	cmd.Dir = dir
	cmd.Env = env(passEnv)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	w.Stop()
	if err != nil {
		t.Fatalf("release: %v\n%s", err, out.String())
	}
	if tr := leakIn(out.Bytes()); tr != "" || !strings.Contains(out.String(), "migrating 19") {
		t.Errorf("release output (leak %q):\n%s", tr, out.String())
	}
	for _, l := range w.leaks {
		t.Error(l)
	}
	if w.shells < 2 || w.runbook < 1 {
		t.Fatalf("the watcher saw %d step shells and %d runbook processes in %d sweeps: it checked nothing", w.shells, w.runbook, w.scans)
	}
	remotetest.Figure(t, "process-list watcher during a %s release over real sshd (vault key auth, jump host, secret in script, env, verify, check): "+
		"%d sweeps of /proc/*/cmdline, %d distinct processes (%d step shells, %d runbook), %d command lines holding a secret, the vault passphrase or the key",
		took.Round(100*time.Millisecond), w.scans, len(w.seen), w.shells, w.runbook, len(w.leaks))
}
