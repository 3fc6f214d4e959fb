package steps

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// deployHost is one host of the layout tests, reached through the real
// executor: the local transport or a real OpenSSH sshd on 127.0.0.1.
type deployHost struct {
	e      *Executor
	h      *runbook.Host
	deploy string // the host's deploy_dir
	sum    string // sha256 of the artifact
	art    []byte // the artifact's content
}

// eachTransport runs fn against a local host and a real sshd host, each
// with a fresh deploy directory, keep 2, and an artifact app.ear.
func eachTransport(t *testing.T, fn func(t *testing.T, d *deployHost)) {
	t.Run("local", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, newDeployHost(t, dir, "    local: true\n", "{name: h1, deploy_dir: "+filepath.Join(dir, "deploy")+"}"))
	})
	t.Run("sshd", func(t *testing.T) {
		dir := t.TempDir()
		h := sshdtest.Start(t, sshdtest.Options{})
		if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(h.KnownHostsLine()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env := fmt.Sprintf("    user: %s\n    auth: {key_file: %s}\n", h.User, h.ClientKey)
		fn(t, newDeployHost(t, dir, env, fmt.Sprintf("{name: h1, address: %q, deploy_dir: %s}", h.Addr, h.DeployDir)))
	})
}

func newDeployHost(t *testing.T, dir, env, host string) *deployHost {
	t.Helper()
	art := []byte("the billing application, build " + t.Name() + "\n")
	if err := os.WriteFile(filepath.Join(dir, "app.ear"), art, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := "name: t\nknown_hosts: known_hosts\nartifact: {path: app.ear}\nenvironments:\n  e:\n" + env +
		"    keep: 2\n    hosts:\n      - " + host + "\nsteps:\n  - {name: stage, on: e, upload: artifact}\n  - {name: switch, on: e, activate: true}\n"
	e := localExecutor(t, dir, yaml)
	e.RB.KnownHosts = filepath.Join(dir, "known_hosts")
	pool := remote.NewPool(remote.PoolOptions{KnownHosts: e.RB.KnownHosts, SSHConfig: filepath.Join(dir, "no-ssh-config")})
	t.Cleanup(func() { pool.Close() })
	e.Dialer, e.Closer = pool, pool
	s := sha256.Sum256(art)
	h := e.RB.Envs["e"].Hosts[0]
	if err := os.MkdirAll(h.DeployDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &deployHost{e: e, h: h, deploy: h.DeployDir, sum: hex.EncodeToString(s[:]), art: art}
}

// call builds the call of step i (0 stage, 1 switch) for version.
func (d *deployHost) call(i int, version string, out *bytes.Buffer) *runbook.Call {
	return &runbook.Call{
		Release: &runbook.Release{ID: 1, Version: version},
		Step:    d.e.RB.Steps[i],
		Host:    d.h,
		Data:    runbook.TemplateData{Artifact: runbook.TemplateArtifact{Name: "app.ear", SHA256: d.sum}},
		Out:     out,
	}
}

func (d *deployHost) upload(t *testing.T, version string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	_, err := d.e.Do(context.Background(), d.call(0, version, &out))
	return out.String(), err
}

func (d *deployHost) activate(t *testing.T, version string, staged ...string) (runbook.ActionDetail, string, error) {
	t.Helper()
	var out bytes.Buffer
	c := d.call(1, version, &out)
	c.Staged = staged
	o, err := d.e.Do(context.Background(), c)
	return runbook.ParseDetail(o.Detail), out.String(), err
}

// stage makes releases/<v> by hand, with a modification time age ago.
func (d *deployHost) stage(t *testing.T, v string, age time.Duration) {
	t.Helper()
	p := filepath.Join(d.deploy, "releases", v)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	if err := os.Chtimes(p, when, when); err != nil {
		t.Fatal(err)
	}
}

func (d *deployHost) releases(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(d.deploy, "releases"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// The activation scenario on both transports: staged releases are kept by
// the release record (oldest first), live and previous always.
func TestActivateKeepsLiveAndPrevious(t *testing.T) {
	eachTransport(t, func(t *testing.T, d *deployHost) {
		for _, v := range []string{"1.0", "2.8", "2.9", "2.10", "3.0"} {
			d.stage(t, v, time.Hour)
		}
		staged := []string{"1.0", "2.8", "2.9", "2.10", "3.0"} // 2.9 was released before 2.10
		if _, _, err := d.activate(t, "1.0", "1.0"); err != nil {
			t.Fatal(err)
		}
		det, out, err := d.activate(t, "3.0", staged...)
		if err != nil {
			t.Fatal(err)
		}
		if det.Previous != "1.0" || !strings.Contains(out, "current -> releases/3.0 (was 1.0)") {
			t.Errorf("previous %q, output %q; want 1.0", det.Previous, out)
		}
		// Keep 2 newest by the record (3.0, 2.10) plus the previous (1.0).
		if want := []string{"2.8", "2.9"}; !slices.Equal(det.Removed, want) {
			t.Errorf("removed %v, want %v (oldest first)", det.Removed, want)
		}
		if left, want := d.releases(t), []string{"1.0", "2.10", "3.0"}; !slices.Equal(left, want) {
			t.Errorf("left %v, want %v", left, want)
		}
		if target, err := os.Readlink(filepath.Join(d.deploy, "current")); err != nil || target != "releases/3.0" {
			t.Errorf("current -> %q %v", target, err)
		}
		// Again: nothing changes, the same previous is reported.
		det, _, err = d.activate(t, "3.0", "1.0", "2.10", "3.0")
		if err != nil || det.Previous != "1.0" || len(det.Removed) != 0 {
			t.Errorf("repeated activation: %+v %v", det, err)
		}
		if _, _, err := d.activate(t, "4.0"); err == nil || !strings.Contains(err.Error(), "not staged") {
			t.Errorf("activated a release that is not staged: %v", err)
		}
	})
}

// L-11: keep-N follows the release record, not the host's clock, and
// never touches what runbook did not stage (a manual backup).
func TestKeepFollowsTheRecordNotMtimes(t *testing.T) {
	eachTransport(t, func(t *testing.T, d *deployHost) {
		// 1.0's directory went back in time... forward: a clock that was
		// a day ahead when it was staged. The backup is old and unrecorded.
		d.stage(t, "1.0", -24*time.Hour)
		d.stage(t, "2.0", 3*time.Hour)
		d.stage(t, "3.0", 2*time.Hour)
		d.stage(t, "4.0", time.Hour)
		d.stage(t, "backup-before-upgrade", 100*time.Hour)
		if _, _, err := d.activate(t, "3.0"); err != nil {
			t.Fatal(err)
		}
		det, _, err := d.activate(t, "4.0", "1.0", "2.0", "3.0", "4.0")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"1.0", "2.0"}; !slices.Equal(det.Removed, want) {
			t.Errorf("removed %v, want %v", det.Removed, want)
		}
		if left, want := d.releases(t), []string{"3.0", "4.0", "backup-before-upgrade"}; !slices.Equal(left, want) {
			t.Errorf("left %v, want %v", left, want)
		}
	})
}

// Until the engine passes the record, the cleanup removes nothing.
func TestKeepWithoutARecordRemovesNothing(t *testing.T) {
	eachTransport(t, func(t *testing.T, d *deployHost) {
		for _, v := range []string{"1.0", "2.0", "3.0", "4.0"} {
			d.stage(t, v, time.Hour)
		}
		det, _, err := d.activate(t, "4.0")
		if err != nil || len(det.Removed) != 0 {
			t.Errorf("%+v %v, want nothing removed", det, err)
		}
		if left := d.releases(t); len(left) != 4 {
			t.Errorf("left %v", left)
		}
	})
}

// M-2: a releases/<v> planted as a link to a directory outside: the upload
// refuses it and writes nothing there, and current never points there.
func TestLinkedReleaseDirRefused(t *testing.T) {
	eachTransport(t, func(t *testing.T, d *deployHost) {
		outside := t.TempDir()
		mustSymlink(t, outside, filepath.Join(d.deploy, "releases", "6.0"))
		if _, err := d.upload(t, "6.0"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("upload into a linked release dir: %v, want a refusal naming the link", err)
		}
		if names := dirEntries(t, outside); len(names) != 0 {
			t.Errorf("the upload wrote outside the deploy dir: %v", names)
		}
		if _, _, err := d.activate(t, "6.0"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("activate of a linked release dir: %v, want a refusal", err)
		}
		if _, err := os.Lstat(filepath.Join(d.deploy, "current")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("current was written: %v", err)
		}
		if _, err := d.e.StagedSHA256(context.Background(), d.h, "6.0"); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("StagedSHA256 through a linked release dir: %v, want a refusal", err)
		}
	})
}

// M-2: a .part planted as a link to a file the deploy user owns, and the
// final name planted as a link to a copy of the artifact: the upload
// writes neither target, and what it stages is a regular file.
func TestPlantedLinksInAReleaseDirAreNotFollowed(t *testing.T) {
	eachTransport(t, func(t *testing.T, d *deployHost) {
		outside := t.TempDir()
		keys := filepath.Join(outside, "authorized_keys")
		if err := os.WriteFile(keys, []byte("ssh-ed25519 AAAA admin\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		copyOf := filepath.Join(outside, "app.ear")
		if err := os.WriteFile(copyOf, d.art, 0o644); err != nil {
			t.Fatal(err)
		}
		rel := filepath.Join(d.deploy, "releases", "7.0")
		mustSymlink(t, keys, filepath.Join(rel, ".app.ear.part"))
		mustSymlink(t, copyOf, filepath.Join(rel, "app.ear"))
		out, err := d.upload(t, "7.0")
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
		if b, _ := os.ReadFile(keys); string(b) != "ssh-ed25519 AAAA admin\n" {
			t.Errorf("authorized_keys was overwritten through the planted .part link: %q", b)
		}
		fi, err := os.Lstat(filepath.Join(rel, "app.ear"))
		if err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("staged app.ear is %v (%v), want a regular file (output %q)", fi.Mode(), err, out)
		}
		if b, _ := os.ReadFile(filepath.Join(rel, "app.ear")); !bytes.Equal(b, d.art) {
			t.Errorf("staged content %q", b)
		}
		if _, err := os.Lstat(filepath.Join(rel, ".app.ear.part")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("temp name left: %v", err)
		}
	})
}

// M-2: releases/ itself a link to a directory of other things: nothing is
// staged there, nothing activated, and nothing in it removed.
func TestLinkedReleasesRefused(t *testing.T) {
	eachTransport(t, func(t *testing.T, d *deployHost) {
		victim := t.TempDir()
		for _, v := range []string{"a", "b", "c", "d", "5.0"} {
			if err := os.MkdirAll(filepath.Join(victim, v), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		mustSymlink(t, victim, filepath.Join(d.deploy, "releases"))
		if _, err := d.upload(t, "5.0"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("upload through a linked releases/: %v, want a refusal", err)
		}
		if _, _, err := d.activate(t, "5.0", "a", "b", "c", "d", "5.0"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("activate through a linked releases/: %v, want a refusal", err)
		}
		if got := dirEntries(t, victim); len(got) != 5 {
			t.Errorf("the link's target lost entries: %v", got)
		}
		if _, err := os.Lstat(filepath.Join(victim, "5.0", "app.ear")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("staged through the link: %v", err)
		}
	})
}

// M-2: a release directory another user owns (or whose releases/ another
// user owns) could be changed under the release after it was verified:
// refused by upload and activate alike.
func TestForeignReleaseDirRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a directory to another user needs root (CI runs as root)")
	}
	const nobody = 65534
	eachTransport(t, func(t *testing.T, d *deployHost) {
		rel := filepath.Join(d.deploy, "releases", "8.0")
		if err := os.MkdirAll(rel, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(rel, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		if _, err := d.upload(t, "8.0"); err == nil || !strings.Contains(err.Error(), "8.0") {
			t.Errorf("upload into a foreign release dir: %v, want a refusal", err)
		}
		if _, err := os.Lstat(filepath.Join(rel, "app.ear")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("staged into a foreign directory: %v", err)
		}
		if _, _, err := d.activate(t, "8.0"); err == nil || !strings.Contains(err.Error(), "uid 65534") {
			t.Errorf("activate of a foreign release dir: %v, want a refusal naming its owner", err)
		}
		if _, err := os.Lstat(filepath.Join(d.deploy, "current")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("current was switched: %v", err)
		}

		// A releases/ of another user: a release inside it is refused too.
		if err := os.Chown(rel, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(d.deploy, "releases"), nobody, nobody); err != nil {
			t.Fatal(err)
		}
		if _, err := d.upload(t, "8.0"); err == nil {
			t.Error("upload under a foreign releases/ succeeded")
		}
		if _, _, err := d.activate(t, "8.0"); err == nil || !strings.Contains(err.Error(), "uid 65534") {
			t.Errorf("activate under a foreign releases/: %v, want a refusal", err)
		}
	})
}

// M-3: a current link that names no valid version reaches nothing: the
// previous release is unknown (and said so), never the link's text.
func TestCurrentLinkNotAVersionIsUnknown(t *testing.T) {
	for _, target := range []string{`releases/x"; id > PWNED_prev; echo "`, "/etc", "releases/../../etc", "releases/a/b", "../outside/1.0"} {
		t.Run(target, func(t *testing.T) {
			eachTransport(t, func(t *testing.T, d *deployHost) {
				d.stage(t, "9.0", time.Hour)
				mustSymlink(t, "releases/1.0", filepath.Join(d.deploy, "previous"))
				mustSymlink(t, target, filepath.Join(d.deploy, "current"))
				det, out, err := d.activate(t, "9.0")
				if err != nil {
					t.Fatal(err)
				}
				if det.Previous != "" || !strings.Contains(out, "runbook: warning: current") || !strings.Contains(out, "(was nothing)") {
					t.Errorf("previous %q, output %q; want unknown with a warning", det.Previous, out)
				}
				// The stale previous link went with it: a repeated
				// activation does not report 1.0 either.
				det, _, err = d.activate(t, "9.0")
				if err != nil || det.Previous != "" {
					t.Errorf("repeated activation: previous %q %v, want none", det.Previous, err)
				}
			})
		})
	}
}

// M-3 / H-1: the undo of an upload removes only releases/<version>, and a
// version that is not one is refused before any path is built from it.
func TestUnstageStaysInReleases(t *testing.T) {
	eachTransport(t, func(t *testing.T, d *deployHost) {
		victim := filepath.Join(filepath.Dir(d.deploy), "victim")
		if err := os.MkdirAll(filepath.Join(victim, "important"), 0o755); err != nil {
			t.Fatal(err)
		}
		d.stage(t, "1.0", time.Hour)
		for _, v := range []string{"../../victim", "1.0/../../../victim", "", "..", "../.."} {
			var out bytes.Buffer
			if _, err := d.e.Undo(context.Background(), d.call(0, v, &out), ""); err == nil {
				t.Errorf("unstage %q succeeded", v)
			}
			if _, err := os.Stat(filepath.Join(victim, "important")); err != nil {
				t.Fatalf("unstage %q removed something outside releases/: %v", v, err)
			}
			if _, err := d.e.StagedSHA256(context.Background(), d.h, v); err == nil {
				t.Errorf("StagedSHA256 of %q succeeded", v)
			}
		}
		// A link planted as releases/2.0 is removed itself, not its target.
		mustSymlink(t, victim, filepath.Join(d.deploy, "releases", "2.0"))
		var out bytes.Buffer
		if _, err := d.e.Undo(context.Background(), d.call(0, "2.0", &out), ""); err != nil {
			t.Fatalf("unstage of a link: %v", err)
		}
		if _, err := os.Stat(filepath.Join(victim, "important")); err != nil {
			t.Fatalf("unstage followed the link: %v", err)
		}
		if left := d.releases(t); !slices.Equal(left, []string{"1.0"}) {
			t.Errorf("left %v", left)
		}
	})
}

// Upload, StagedSHA256 and unstage on both transports, through the layout.
func TestStageAndUnstage(t *testing.T) {
	eachTransport(t, func(t *testing.T, d *deployHost) {
		out, err := d.upload(t, "1.0")
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(d.deploy, "releases/1.0/app.ear") + " sha256 " + d.sum; !strings.Contains(out, want) {
			t.Errorf("output %q, want %q", out, want)
		}
		if got, err := d.e.StagedSHA256(context.Background(), d.h, "1.0"); err != nil || got != d.sum {
			t.Errorf("StagedSHA256: %s %v", got, err)
		}
		if _, err := d.e.StagedSHA256(context.Background(), d.h, "9.9"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("StagedSHA256 of a release never staged: %v, want fs.ErrNotExist", err)
		}
		var buf bytes.Buffer
		o, err := d.e.Undo(context.Background(), d.call(0, "1.0", &buf), "")
		if err != nil || o.Summary != "removed releases/1.0" {
			t.Fatalf("unstage: %+v %v", o, err)
		}
		if _, err := os.Lstat(filepath.Join(d.deploy, "releases/1.0")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("releases/1.0 left: %v", err)
		}
	})
}

// L-6: a host that refuses the password says so, with what to do next.
func TestAuthRefusalHasAHint(t *testing.T) {
	dir := t.TempDir()
	h := sshdtest.Start(t, sshdtest.Options{PasswordAuth: true})
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(h.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := fmt.Sprintf("    user: %s\n    auth: {password: secret:pre/password}\n", h.User)
	d := newDeployHost(t, dir, env, fmt.Sprintf("{name: pre1, address: %q, deploy_dir: %s}", h.Addr, h.DeployDir))
	d.e.Secret = func(string) (string, error) { return "wrong", nil }
	_, err := d.upload(t, "1.0")
	var he *runbook.HintError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "authentication refused by pre1 for "+h.User) || !strings.Contains(he.Hint, "password") {
		t.Fatalf("got %v, want an authentication refusal with a hint", err)
	}
}
