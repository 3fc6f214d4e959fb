package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

func start(version string) func(context.Context, *engine.Engine) error {
	return func(ctx context.Context, e *engine.Engine) error {
		return e.Start(ctx, engine.StartOptions{Version: version})
	}
}

func resume(ctx context.Context, e *engine.Engine) error { return e.Resume(ctx, "") }

func rollback(ctx context.Context, e *engine.Engine) error { return e.Rollback(ctx) }

// mustRun runs f in a fresh process and fails the test unless it ends with want.
func mustRun(t *testing.T, w *runbooktest.World, o runbooktest.ProcessOptions, f func(context.Context, *engine.Engine) error, want error) *runbooktest.Process {
	t.Helper()
	p := w.Process(o)
	err, died := p.Run(context.Background(), nil, f)
	if died {
		t.Fatalf("the process died unexpectedly\n%s", p.UI)
	}
	if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
		t.Fatalf("got error %v, want %v\n%s", err, want, p.UI)
	}
	if p.Prompter != nil {
		if left := p.Prompter.Left(); len(left) > 0 {
			t.Fatalf("answers never asked for: %+v\nasked:\n%s", left, p.Prompter)
		}
	}
	return p
}

func TestReleaseRunsEveryStepOnceOnEveryHost(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, night))
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
	for _, r := range nightRuns {
		if n := w.Hosts.Count(r[1], "do:"+r[0]); n != 1 {
			t.Errorf("%s on %s took effect %d times, want once\n%s", r[0], r[1], n, w.Hosts.Effects())
		}
	}
	rel := w.Release()
	if rel.State != runbook.ReleaseSucceeded {
		t.Fatalf("release is %s, want succeeded", rel.State)
	}
	for _, h := range []string{"p1", "p2"} {
		if got := w.Hosts.Host(h).Current; got != "1.0" {
			t.Errorf("current on %s = %q, want 1.0", h, got)
		}
	}
	// A second start of the same version runs nothing.
	p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("1.0"), nil)
	if p.Exec.Calls() != 0 {
		t.Errorf("starting a released version again made %d calls to hosts", p.Exec.Calls())
	}
}

// The SPEC's own example stages on two hosts at once; the artifact's
// hash was once read and written by both host runs (a data race that
// go test -race reports when this runs without the fix).
func TestParallelUploadHasNoRace(t *testing.T) {
	rb := load(t, `
name: race
artifact: {path: app.ear}
environments:
  prod:
    local: true
    parallel: 4
    hosts:
      - {name: p1, deploy_dir: hosts/p1}
      - {name: p2, deploy_dir: hosts/p2}
      - {name: p3, deploy_dir: hosts/p3}
      - {name: p4, deploy_dir: hosts/p4}
steps:
  - {name: stage, on: prod, upload: artifact}
  - {name: activate, on: prod, activate: true}
`)
	w := runbooktest.NewWorld(t, rb)
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, start("2.0"), nil)
	if sha := w.Release().ArtifactSHA256; len(sha) != 64 {
		t.Fatalf("the release recorded artifact sha256 %q", sha)
	}
}

// max_fail 0 with two hosts at a time: once one host failed, no new host
// starts; the step fails and names the host and why.
func TestMaxFailStopsNewHosts(t *testing.T) {
	rb := load(t, `
name: rolling
artifact: {path: app.ear}
environments:
  prod:
    local: true
    parallel: 1
    hosts:
      - {name: p1, deploy_dir: hosts/p1}
      - {name: p2, deploy_dir: hosts/p2}
      - {name: p3, deploy_dir: hosts/p3}
steps:
  - {name: restart, on: prod, run: restart}
`)
	w := runbooktest.NewWorld(t, rb)
	script := func(c *runbook.Call, what string) runbooktest.Fault {
		if c.Host.Name == "p2" && what == "do" {
			return runbooktest.Fault{Exit: 3}
		}
		return runbooktest.Fault{}
	}
	p := w.Process(runbooktest.ProcessOptions{Yes: true, Script: script})
	err, _ := p.Run(context.Background(), nil, start("1"))
	if !errors.Is(err, runbook.ErrStepFailed) {
		t.Fatalf("got %v, want a failed step", err)
	}
	if n := w.Hosts.Count("p3", "do:restart"); n != 0 {
		t.Errorf("p3 was restarted after p2 failed (max_fail 0, rolling)")
	}
	steps := w.Steps(w.Release().ID)
	if got := steps[0].Hosts[1].State; got != runbook.RunFailed {
		t.Errorf("p2 is %s, want failed", got)
	}
	if !strings.Contains(steps[0].Reason, "p2 (exit status 3)") {
		t.Errorf("the step's reason %q does not name p2 and its exit status", steps[0].Reason)
	}
}

// FanOut never runs more than Parallel at once and starts in order.
func TestFanOutLimits(t *testing.T) {
	for _, tc := range []struct {
		parallel, maxFail int
		fail              map[int]bool
		wantNotRun        int
	}{
		{parallel: 1, maxFail: 0, fail: map[int]bool{1: true}, wantNotRun: 3},
		{parallel: 1, maxFail: 1, fail: map[int]bool{1: true}, wantNotRun: 0},
		{parallel: 3, maxFail: 0, fail: nil, wantNotRun: 0},
		{parallel: 0, maxFail: 5, fail: map[int]bool{0: true, 1: true, 2: true}, wantNotRun: 0},
	} {
		t.Run(fmt.Sprintf("parallel%d-maxfail%d", tc.parallel, tc.maxFail), func(t *testing.T) {
			items := []int{0, 1, 2, 3, 4}
			var running, peak int
			var mu = make(chan struct{}, 1)
			res := engine.FanOut(context.Background(), items, engine.Limits{Parallel: tc.parallel, MaxFail: runbook.Share{N: tc.maxFail}}, func(_ context.Context, i int) (bool, error) {
				mu <- struct{}{}
				running++
				peak = max(peak, running)
				<-mu
				mu <- struct{}{}
				running--
				<-mu
				return tc.fail[i], nil
			})
			if peak > max(tc.parallel, 1) {
				t.Errorf("%d ran at once, parallel %d", peak, tc.parallel)
			}
			if len(res.NotRun) != tc.wantNotRun {
				t.Errorf("not run %v, want %d", res.NotRun, tc.wantNotRun)
			}
			if len(res.Failed) != len(tc.fail) {
				t.Errorf("failed %v, want %d", res.Failed, len(tc.fail))
			}
		})
	}
}

// The hosts that start first are warmed (connected) before the step's
// host runs, as many as run at once, and only the ones that still run:
// the upload's while its artifact is hashed.
func TestWarmBeforeHostRuns(t *testing.T) {
	rb := load(t, `
name: warm
artifact: {path: app.ear}
environments:
  prod:
    local: true
    parallel: 2
    hosts:
      - {name: p1, deploy_dir: hosts/p1}
      - {name: p2, deploy_dir: hosts/p2}
      - {name: p3, deploy_dir: hosts/p3}
steps:
  - {name: stage, on: prod, upload: artifact}
  - {name: restart, on: prod, run: restart}
`)
	w := runbooktest.NewWorld(t, rb)
	var p *runbooktest.Process
	var notWarm []string
	script := func(c *runbook.Call, what string) runbooktest.Fault {
		if what == "do" && c.Host.Name != "p3" && !slices.Contains(p.Exec.Warmed(), c.Step.Name+"/"+c.Host.Name) {
			notWarm = append(notWarm, c.Step.Name+"/"+c.Host.Name)
		}
		if what == "do" && c.Step.Name == "restart" && c.Host.Name == "p2" {
			return runbooktest.Fault{Exit: 1}
		}
		return runbooktest.Fault{}
	}
	p = w.Process(runbooktest.ProcessOptions{Yes: true, Script: script})
	if err, _ := p.Run(context.Background(), nil, start("1")); !errors.Is(err, runbook.ErrStepFailed) {
		t.Fatalf("got %v, want restart to fail on p2", err)
	}
	if len(notWarm) > 0 {
		t.Errorf("host runs started unwarmed: %v", notWarm)
	}
	if got, want := p.Exec.Warmed(), []string{"stage/p1", "stage/p2", "restart/p1", "restart/p2"}; !slices.Equal(got, want) {
		t.Errorf("warmed %v, want %v (the first two hosts of each step)", got, want)
	}
	// The resume warms only what still runs: p2, which failed, and p3
	// unless it ran before p2 failed.
	var left []string
	for _, hr := range w.Steps(w.Release().ID)[1].Hosts {
		if hr.State != runbook.RunSucceeded {
			left = append(left, "restart/"+hr.Host)
		}
	}
	p = w.Process(runbooktest.ProcessOptions{Yes: true})
	if err, _ := p.Run(context.Background(), nil, resume); err != nil {
		t.Fatal(err)
	}
	if got := p.Exec.Warmed(); !slices.Equal(got, left) || !slices.Contains(got, "restart/p2") {
		t.Errorf("warmed on resume %v, want %v", got, left)
	}
}

// The artifact is hashed beside the preflight; when it is rebuilt
// meanwhile (here by the preflight itself, once that hash is done), the
// release records the sum of the file it stages, not of the one read
// ahead.
func TestArtifactRebuiltDuringPreflightIsHashedAgain(t *testing.T) {
	rb := load(t, `
name: ahead
artifact: {path: app.ear}
environments:
  prod:
    local: true
    hosts:
      - {name: p1, deploy_dir: hosts/p1}
steps:
  - {name: stage, on: prod, upload: artifact}
  - {name: activate, on: prod, activate: true}
`)
	w := runbooktest.NewWorld(t, rb)
	rebuilt := []byte("rebuilt while the hosts were checked: another build, another size\n")
	pre := func(context.Context, bool, string) error {
		time.Sleep(100 * time.Millisecond) // the hash ahead of a few bytes is done
		return os.WriteFile(rb.Artifact.Abs, rebuilt, 0o644)
	}
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Preflight: pre}, start("2.0"), nil)
	sum := sha256.Sum256(rebuilt)
	if got, want := w.Release().ArtifactSHA256, hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("the release recorded artifact sha256 %s, want %s (the file staged)", got, want)
	}
}
