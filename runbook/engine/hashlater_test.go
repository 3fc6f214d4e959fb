package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

const hashLaterRunbook = `
name: later
artifact: {path: app.ear}
environments:
  prod:
    local: true
    parallel: 2
    hosts:
      - {name: p1, deploy_dir: hosts/p1}
      - {name: p2, deploy_dir: hosts/p2}
steps:
  - {name: stage, on: prod, upload: artifact}
  - {name: activate, on: prod, activate: true}
`

// uploadSeen is what the upload calls of one process were given.
type uploadSeen struct {
	mu sync.Mutex
	// later: calls that had to wait for the sum (Call.ArtifactSHA256).
	later, first int
	// recorded: when a call got the sum, the store held it already.
	recorded []bool
}

// script watches the upload calls of w; with get, it asks for the sum
// as the real upload does before its rename, and checks that the
// release recorded it by then.
func (u *uploadSeen) script(t *testing.T, w *runbooktest.World) func(c *runbook.Call, what string) runbooktest.Fault {
	return func(c *runbook.Call, what string) runbooktest.Fault {
		if what != "do" || c.Step.Kind != runbook.KindUpload {
			return runbooktest.Fault{}
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		if c.Data.Artifact.SHA256 != "" {
			if c.ArtifactSHA256 != nil {
				t.Errorf("%s: a call with the sum and a way to wait for it", c.Host.Name)
			}
			u.first++
			return runbooktest.Fault{}
		}
		u.later++
		if c.ArtifactSHA256 == nil {
			t.Errorf("%s: an upload call with no sum and no way to wait for it", c.Host.Name)
			return runbooktest.Fault{}
		}
		sum, err := c.ArtifactSHA256(context.Background())
		if err != nil {
			return runbooktest.Fault{}
		}
		rel, _ := w.Store.Release(context.Background(), c.Release.ID)
		u.recorded = append(u.recorded, rel != nil && rel.ArtifactSHA256 == sum)
		return runbooktest.Fault{}
	}
}

func writeEAR(t *testing.T, rb *runbook.Runbook, content string) string {
	t.Helper()
	if err := os.WriteFile(rb.Artifact.Abs, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// A release whose artifact cannot be another version's starts its
// copies before the hash is known; each host gets the sum recorded with
// the release, with its size. One whose artifact has the size of an
// earlier release's is hashed first, since the hash may need the
// operator; so is one after a release that recorded no size.
func TestUploadStartsBeforeTheHashWhenNothingCanStopIt(t *testing.T) {
	rb := load(t, hashLaterRunbook)
	w := runbooktest.NewWorld(t, rb)
	release := func(version, content string, o runbooktest.ProcessOptions) (*uploadSeen, string) {
		t.Helper()
		sum := writeEAR(t, rb, content)
		u := &uploadSeen{}
		o.Yes, o.Script = true, u.script(t, w)
		mustRun(t, w, o, start(version), nil)
		rel := w.Release()
		if rel.Version != version || rel.ArtifactSHA256 != sum || rel.ArtifactSize != int64(len(content)) {
			t.Fatalf("release %s recorded artifact %s of %d bytes, want %s of %d", rel.Version, rel.ArtifactSHA256, rel.ArtifactSize, sum, len(content))
		}
		for _, h := range []string{"p1", "p2"} {
			if got := w.Hosts.Host(h).Current; got != version {
				t.Errorf("%s runs %q, want %s", h, got, version)
			}
		}
		return u, sum
	}
	check := func(version string, u *uploadSeen, later bool) {
		t.Helper()
		switch {
		case later && (u.later != 2 || u.first != 0):
			t.Errorf("%s: %d calls waited for the sum and %d had it, want both to wait", version, u.later, u.first)
		case !later && (u.first != 2 || u.later != 0):
			t.Errorf("%s: %d calls had the sum and %d waited for it, want both to have it", version, u.first, u.later)
		}
		for i, ok := range u.recorded {
			if !ok {
				t.Errorf("%s: call %d got the sum before the release recorded it", version, i)
			}
		}
	}
	u, _ := release("1.0", "build one", runbooktest.ProcessOptions{})
	check("1.0", u, true)
	u, _ = release("2.0", "build two", runbooktest.ProcessOptions{}) // the size of build one
	check("2.0", u, false)
	u, _ = release("3.0", "build three", runbooktest.ProcessOptions{})
	check("3.0", u, true)
	// The same bytes under a new version, allowed: nothing to ask.
	u, sum := release("4.0", "build three", runbooktest.ProcessOptions{SameArtifact: true})
	check("4.0", u, true)
	notes, _ := w.Store.Notes(context.Background(), w.Release().ID)
	var noted bool
	for _, n := range notes {
		noted = noted || n.Kind == "deviation" && strings.Contains(n.Text, "same artifact as release 3.0") && strings.Contains(n.Text, sum)
	}
	if !noted {
		t.Errorf("4.0 shipped 3.0's bytes with no deviation noted: %+v", notes)
	}
	// A release recorded before runbook kept sizes could be anything.
	old := w.Release()
	old.ArtifactSize = 0
	if err := w.Store.RecordRelease(context.Background(), old, nil); err != nil {
		t.Fatal(err)
	}
	u, _ = release("5.0", "build number five", runbooktest.ProcessOptions{})
	check("5.0", u, false)
}

// Should a release of another version with the same bytes show up only
// in the hash (its recorded size misleads), the copies already under way
// are not renamed into place: the hosts fail with what the operator
// would have been asked, nothing of the new version is staged, and the
// release stops for the operator as under --yes (exit 3).
func TestUploadStartedBeforeTheHashRefusesAnotherVersionsBytes(t *testing.T) {
	rb := load(t, hashLaterRunbook)
	w := runbooktest.NewWorld(t, rb)
	writeEAR(t, rb, "build one")
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
	first := w.Release()
	first.ArtifactSize = 1 // not what it shipped
	if err := w.Store.RecordRelease(context.Background(), first, nil); err != nil {
		t.Fatal(err)
	}
	u := &uploadSeen{}
	p := w.Process(runbooktest.ProcessOptions{Yes: true, Script: u.script(t, w)})
	err, _ := p.Run(context.Background(), nil, start("2.0"))
	if !errors.Is(err, runbook.ErrNeedsHuman) || !strings.Contains(err.Error(), "byte-identical") {
		t.Fatalf("got %v, want a decision needed on the byte-identical artifact", err)
	}
	if u.later != 2 {
		t.Errorf("%d calls waited for the sum, want 2", u.later)
	}
	rel := w.Release()
	if rel.Version != "2.0" || rel.ArtifactSHA256 != "" || rel.State != runbook.ReleasePaused {
		t.Errorf("release %s %s recorded artifact %q, want paused with none", rel.Version, rel.State, rel.ArtifactSHA256)
	}
	for _, hr := range w.Steps(rel.ID)[0].Hosts {
		if hr.State != runbook.RunFailed || !strings.Contains(hr.OutputTail, "byte-identical") {
			t.Errorf("%s: %s (%q), want failed as byte-identical to 1.0", hr.Host, hr.State, hr.OutputTail)
		}
	}
	for _, h := range []string{"p1", "p2"} {
		if st := w.Hosts.Host(h).Staged; len(st) != 1 || st[0] != "1.0" {
			t.Errorf("%s has %v staged, want only 1.0", h, st)
		}
	}
}
