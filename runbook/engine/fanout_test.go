package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/engine"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

func count(n int) runbook.Share   { return runbook.Share{N: n} }
func percent(n int) runbook.Share { return runbook.Share{N: n, Percent: true} }

// Serial cuts the items into batches of a count or a percentage of them
// (at least one item each), in order.
func TestBatches(t *testing.T) {
	for _, tc := range []struct {
		serial runbook.Share
		n      int
		want   string
	}{
		{runbook.Share{}, 5, "0-5"},
		{count(2), 5, "0-2 2-4 4-5"},
		{count(10), 3, "0-3"},
		{percent(25), 10, "0-2 2-4 4-6 6-8 8-10"},
		{percent(1), 3, "0-1 1-2 2-3"},
		{percent(100), 7, "0-7"},
		{count(3), 0, ""},
	} {
		var got []string
		bs := engine.Limits{Serial: tc.serial}.Batches(tc.n)
		for i, b := range bs {
			got = append(got, fmt.Sprintf("%d-%d", b.From, b.To))
			if b.Index != i+1 || b.Count != len(bs) {
				t.Errorf("serial %v of %d: batch %d is %d/%d", tc.serial, tc.n, i, b.Index, b.Count)
			}
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("serial %v of %d: batches %q, want %q", tc.serial, tc.n, s, tc.want)
		}
	}
}

// A batch starts only once every item of the one before it has ended,
// and not at all when the one before failed more than max_fail allows —
// in the batch, or over all the items.
func TestFanOutBatches(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n        int
		lim      engine.Limits
		fail     []int
		notRun   []int
		exceeded string
	}{
		// Where every item of a batch runs at once, the failures that
		// exceed the limit are its last items: the ones before them have
		// started by then, whatever the scheduling.
		{name: "all pass", n: 7, lim: engine.Limits{Parallel: 3, Serial: count(3)}},
		{name: "a failed batch stops the next", n: 6, lim: engine.Limits{Parallel: 2, Serial: count(2)}, fail: []int{3},
			notRun: []int{4, 5}, exceeded: "batch 2/3: 1 of 2 failed, max_fail 0"},
		{name: "max_fail count in all", n: 9, lim: engine.Limits{Parallel: 1, Serial: count(3), MaxFail: count(1)}, fail: []int{0, 4},
			notRun: []int{5, 6, 7, 8}, exceeded: "2 of 9 failed, max_fail 1"},
		{name: "max_fail percent of a batch", n: 15, lim: engine.Limits{Parallel: 5, Serial: count(5), MaxFail: percent(20)}, fail: []int{1, 8, 9},
			notRun: []int{10, 11, 12, 13, 14}, exceeded: "batch 2/3: 2 of 5 failed, max_fail 20%: 1 of 5"},
		{name: "max_fail over all the batches", n: 8, lim: engine.Limits{Parallel: 2, Serial: count(2), MaxFail: count(2)}, fail: []int{0, 2, 5},
			notRun: []int{6, 7}, exceeded: "3 of 8 failed, max_fail 2"},
		{name: "max_fail percent over all", n: 20, lim: engine.Limits{Parallel: 1, Serial: count(10), MaxFail: percent(10)}, fail: []int{0, 11},
			notRun: nil},
		{name: "one batch, percent", n: 10, lim: engine.Limits{Parallel: 10, MaxFail: percent(20)}, fail: []int{7, 8, 9},
			exceeded: "max_fail 20%: 2 of 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := make([]int, tc.n)
			for i := range items {
				items[i] = i
			}
			var (
				mu             sync.Mutex
				running, peak  int
				ended, batchOf = map[int]bool{}, map[int]engine.Batch{}
				announced      []engine.Batch
			)
			lim := tc.lim
			lim.OnBatch = func(b engine.Batch) {
				mu.Lock()
				defer mu.Unlock()
				announced = append(announced, b)
				for i := b.From; i < b.To; i++ {
					batchOf[i] = b
				}
				for i := range b.From {
					if !ended[i] && !slices.Contains(tc.notRun, i) {
						t.Errorf("batch %d/%d started before item %d of an earlier batch ended", b.Index, b.Count, i)
					}
				}
			}
			res := engine.FanOut(context.Background(), items, lim, func(_ context.Context, i int) (bool, error) {
				mu.Lock()
				if _, ok := batchOf[i]; !ok {
					t.Errorf("item %d ran before its batch was announced", i)
				}
				running++
				peak = max(peak, running)
				mu.Unlock()
				mu.Lock()
				running--
				ended[i] = true
				mu.Unlock()
				return slices.Contains(tc.fail, i), nil
			})
			if peak > max(lim.Parallel, 1) {
				t.Errorf("%d ran at once, parallel %d", peak, lim.Parallel)
			}
			if !slices.Equal(res.NotRun, tc.notRun) {
				t.Errorf("not run %v, want %v", res.NotRun, tc.notRun)
			}
			var failed []int
			for _, i := range tc.fail {
				if !slices.Contains(tc.notRun, i) {
					failed = append(failed, i)
				}
			}
			if !slices.Equal(res.Failed, failed) {
				t.Errorf("failed %v, want %v", res.Failed, failed)
			}
			if res.Exceeded != tc.exceeded {
				t.Errorf("exceeded %q, want %q", res.Exceeded, tc.exceeded)
			}
			if len(announced) == 0 || announced[0].Index != 1 {
				t.Errorf("batches announced: %v", announced)
			}
		})
	}
}

// rolling is a runbook with one environment of six hosts in batches of
// two, a migration with an undo and a restart.
const rolling = `
name: rolling
artifact: {path: app.ear}
environments:
  prod:
    local: true
    parallel: 2
    serial: 2
    hosts:
      - {name: p1, deploy_dir: hosts/p1}
      - {name: p2, deploy_dir: hosts/p2}
      - {name: p3, deploy_dir: hosts/p3}
      - {name: p4, deploy_dir: hosts/p4}
      - {name: p5, deploy_dir: hosts/p5}
      - {name: p6, deploy_dir: hosts/p6}
steps:
  - {name: migrate, on: prod, run: migrate, undo: migrate-down}
  - {name: restart, on: prod, run: restart}
`

var rollingHosts = []string{"p1", "p2", "p3", "p4", "p5", "p6"}

// A host that fails in batch 2 stops the rollout before batch 3 starts:
// its hosts are never touched, the release fails naming the batch, and a
// rollback undoes only the hosts that changed.
func TestSerialFailedBatchStopsTheRollout(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, rolling))
	script := func(c *runbook.Call, what string) runbooktest.Fault {
		// The last host of batch 2 fails: every host of the batch has
		// started by then, whatever the scheduling (with p3 failing, p4
		// may or may not start before the limit is seen).
		if c.Host.Name == "p4" && what == "do" && c.Step.Name == "migrate" {
			return runbooktest.Fault{Exit: 1}
		}
		return runbooktest.Fault{}
	}
	p := w.Process(runbooktest.ProcessOptions{Yes: true, Script: script})
	err, _ := p.Run(context.Background(), nil, start("1"))
	if !errors.Is(err, runbook.ErrStepFailed) {
		t.Fatalf("got %v, want the step failed\n%s", err, p.UI)
	}
	for _, h := range rollingHosts {
		// p4's command ran and exited 1; batch 3 was never touched.
		want := map[string]int{"p1": 1, "p2": 1, "p3": 1, "p4": 1}[h]
		if n := w.Hosts.Count(h, "do:migrate"); n != want {
			t.Errorf("migrate took effect %d times on %s, want %d\n%s", n, h, want, w.Hosts.Effects())
		}
		if n := w.Hosts.Count(h, "do:restart"); n != 0 {
			t.Errorf("restart ran on %s after migrate failed", h)
		}
	}
	ui := p.UI.String()
	for _, line := range []string{"batch 1/3 of migrate: p1 p2 (of 6)", "batch 2/3 of migrate: p3 p4 (of 6)"} {
		if !strings.Contains(ui, line) {
			t.Errorf("the walk did not show %q:\n%s", line, ui)
		}
	}
	if strings.Contains(ui, "batch 3/3") {
		t.Errorf("batch 3 was announced after batch 2 failed:\n%s", ui)
	}
	sr := w.Steps(w.Release().ID)[0]
	if !strings.Contains(sr.Reason, "p4 (exit status 1)") || !strings.Contains(sr.Reason, "batch 2/3: 1 of 2 failed, max_fail 0") {
		t.Errorf("the step's reason %q does not name p4 and the batch", sr.Reason)
	}
	for _, hr := range sr.Hosts[4:] {
		if hr.State != runbook.RunPending {
			t.Errorf("%s of batch 3 is %s, want pending", hr.Host, hr.State)
		}
	}

	// The failed p4 is not undone (a failed run is not one that took
	// effect), nor are p5 and p6.
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, rollback, nil)
	for _, h := range rollingHosts {
		want := map[string]int{"p1": 1, "p2": 1, "p3": 1}[h]
		if n := w.Hosts.Count(h, "undo:migrate"); n != want {
			t.Errorf("the rollback undid migrate %d times on %s, want %d\n%s", n, h, want, w.Hosts.Effects())
		}
	}
}

// Killed in the middle of batch 2, the release resumes in batch 2, with
// the hosts of each batch as they were, and every host runs each step
// once.
func TestSerialResumeInTheBatchItStopped(t *testing.T) {
	w := runbooktest.NewWorld(t, load(t, rolling))
	script := func(c *runbook.Call, what string) runbooktest.Fault {
		if c.Host.Name == "p3" && what == "do" && c.Step.Name == "restart" && c.Attempt == 1 {
			return runbooktest.Fault{Die: runbooktest.DieHostGoesOn}
		}
		return runbooktest.Fault{}
	}
	_, died := w.Process(runbooktest.ProcessOptions{Yes: true, Script: script}).Run(context.Background(), nil, start("1"))
	if !died {
		t.Fatal("the process did not die in restart on p3")
	}
	p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, resume, nil)
	for _, h := range rollingHosts {
		for _, s := range []string{"migrate", "restart"} {
			if n := w.Hosts.Count(h, "do:"+s); n != 1 {
				t.Errorf("%s took effect %d times on %s, want once\n%s", s, n, h, w.Hosts.Effects())
			}
		}
	}
	ui := p.UI.String()
	if strings.Contains(ui, "batch 1/3 of restart") {
		t.Errorf("the resumed step announced batch 1, whose hosts were done:\n%s", ui)
	}
	// p3 was adopted from its markers, p4 may have been running beside it
	// or not started: batch 2 goes on with what is left of it, and batch
	// 3 keeps its hosts.
	if !strings.Contains(ui, "batch 3/3 of restart: p5 p6 (of 6)") {
		t.Errorf("batch 3 is not p5 and p6 after the resume:\n%s", ui)
	}
}

// The step's own serial and max_fail win over the environment's: 100%
// is one batch, and a percentage of max_fail lets that share fail.
func TestStepRollingKeysOverrideTheEnvironment(t *testing.T) {
	rb := load(t, strings.Replace(rolling, "{name: restart, on: prod, run: restart}", "{name: restart, on: prod, run: restart, serial: 100%, max_fail: 34%}", 1))
	w := runbooktest.NewWorld(t, rb)
	script := func(c *runbook.Call, what string) runbooktest.Fault {
		if (c.Host.Name == "p1" || c.Host.Name == "p6") && what == "do" && c.Step.Name == "restart" {
			return runbooktest.Fault{Exit: 2}
		}
		return runbooktest.Fault{}
	}
	p := mustRun(t, w, runbooktest.ProcessOptions{Yes: true, Script: script}, start("1"), nil)
	if ui := p.UI.String(); !strings.Contains(ui, "batch 1/1 of restart: p1 p2 p3 p4 p5 p6 (of 6)") {
		t.Errorf("restart did not run as one batch:\n%s", ui)
	}
	for _, h := range rollingHosts {
		if n := w.Hosts.Count(h, "do:restart"); n != 1 {
			t.Errorf("restart ran %d times on %s", n, h)
		}
	}
}
