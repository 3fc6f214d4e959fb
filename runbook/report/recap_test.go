package report_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/report"
)

// recapNight is the billing-center night as the recap at the end of a
// command sees it: every step in the state the case leaves it, its hosts
// with their times.
type recapNight struct {
	start time.Time
	rel   *runbook.Release
	steps []*runbook.StepRun
	at    time.Duration
}

func newRecapNight(kind string, state runbook.ReleaseState) *recapNight {
	start := time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)
	n := &recapNight{start: start, rel: &runbook.Release{ID: 4, Version: "2.4.0", Kind: kind, State: state, StartedAt: start}}
	for _, s := range []struct {
		name  string
		kind  runbook.StepKind
		hosts []string
	}{
		{"build-ear", runbook.KindRun, []string{"local"}},
		{"stage-prerelease", runbook.KindUpload, []string{"pre1"}},
		{"activate-prerelease", runbook.KindActivate, []string{"pre1"}},
		{"restart-prerelease", runbook.KindOp, []string{"pre1"}},
		{"qa-signoff", runbook.KindConfirm, nil},
		{"interfaces-reachable", runbook.KindProbe, []string{"prod1", "prod2"}},
		{"stage-production", runbook.KindUpload, []string{"prod1", "prod2"}},
		{"activate-production", runbook.KindActivate, []string{"prod1", "prod2"}},
		{"restart-production", runbook.KindOp, []string{"prod1", "prod2"}},
	} {
		sr := &runbook.StepRun{Name: s.name, Kind: s.kind, State: runbook.RunPending}
		for _, h := range s.hosts {
			sr.Hosts = append(sr.Hosts, &runbook.HostRun{Host: h, State: runbook.RunPending, ExitCode: -1})
		}
		n.steps = append(n.steps, sr)
	}
	return n
}

// ran records step name as ended in state after d, each host taking ms.
func (n *recapNight) ran(name string, state runbook.RunState, d time.Duration, ms int64) *runbook.StepRun {
	for _, s := range n.steps {
		if s.Name != name {
			continue
		}
		s.State, s.Attempts = state, 1
		s.StartedAt, s.FinishedAt = n.start.Add(n.at), n.start.Add(n.at+d)
		if state == runbook.RunSkipped {
			s.StartedAt, s.Attempts = time.Time{}, 0 // as a skip records it
		}
		n.at += d + time.Second
		for _, h := range s.Hosts {
			h.State, h.Attempts, h.ExitCode, h.DurationMS = state, 1, 0, ms
		}
		return s
	}
	panic("no step " + name)
}

// released runs the whole night to success: prod2 had the release staged
// already, so its upload changed nothing.
func (n *recapNight) released() {
	n.ran("build-ear", runbook.RunSucceeded, 41*time.Second, 41000)
	n.ran("stage-prerelease", runbook.RunSucceeded, 2*time.Second, 1800)
	n.ran("activate-prerelease", runbook.RunSucceeded, 100*time.Millisecond, 80).Hosts[0].Detail = `{"version":"2.4.0","previous":"2.3.0"}`
	n.ran("restart-prerelease", runbook.RunSucceeded, 34*time.Second, 34000)
	n.ran("qa-signoff", runbook.RunSucceeded, 6*time.Minute, 0)
	n.ran("interfaces-reachable", runbook.RunSucceeded, 300*time.Millisecond, 250)
	n.ran("stage-production", runbook.RunSucceeded, 3*time.Second, 2500).Hosts[1].Detail = `{"sha256":"5d41","skipped":true}`
	for _, h := range n.ran("activate-production", runbook.RunSucceeded, 90*time.Millisecond, 60).Hosts {
		h.Detail = `{"version":"2.4.0","previous":"2.3.0"}`
	}
	n.ran("restart-production", runbook.RunSucceeded, 61*time.Second, 60000)
}

func (n *recapNight) record() report.RecapRecord {
	return report.RecapRecord{Release: n.rel, Steps: n.steps, Now: n.start.Add(n.at)}
}

// recapCases are the ends of a command the recap is printed at, with what
// its text must say (so a careless -update cannot bless a text that lost
// it).
var recapCases = []struct {
	name string
	rec  func() report.RecapRecord
	want []string
}{
	{"succeeded", func() report.RecapRecord {
		n := newRecapNight(runbook.KindRelease, runbook.ReleaseSucceeded)
		n.released()
		n.rel.FinishedAt = n.start.Add(n.at)
		return n.record()
	}, []string{
		"RECAP release 2.4.0 (#4) succeeded in 8m30s\n",
		"  qa-signoff            succeeded    confirm   6m00s\n",
		"  local  ok=1  changed=1  failed=0  skipped=0  41.0s\n",
		// A probe changes nothing; prod2's upload found the release staged.
		"  prod1  ok=4  changed=3  failed=0  skipped=0  1m02s\n",
		"  prod2  ok=4  changed=2  failed=0  skipped=0  1m02s\n",
	}},

	{"failed", func() report.RecapRecord {
		n := newRecapNight(runbook.KindRelease, runbook.ReleaseFailed)
		n.ran("build-ear", runbook.RunSucceeded, 41*time.Second, 41000)
		n.ran("stage-prerelease", runbook.RunSkipped, 0, 0).Hosts[0].Attempts = 0
		n.ran("activate-prerelease", runbook.RunSucceeded, 100*time.Millisecond, 80)
		s := n.ran("restart-prerelease", runbook.RunFailed, 34*time.Second, 34000)
		s.Hosts[0].Detail = runbook.WithFailedVerify("", &runbook.FailedVerify{Command: "curl -fsS http://localhost:8080/billing/health", ExitCode: 22, Attempts: 3})
		return n.record()
	}, []string{
		"RECAP release 2.4.0 (#4) failed after 1m19s\n",
		"  restart-prerelease    failed       op        34.0s\n",
		"  stage-prerelease      skipped      upload    -\n",
		"  pre1   ok=1  changed=1  failed=1  skipped=1  34.1s\n",
		"  prod1  ok=0  changed=0  failed=0  skipped=0  -\n",
	}},

	{"rolled-back", func() report.RecapRecord {
		n := newRecapNight(runbook.KindRelease, runbook.ReleaseRolledBack)
		n.released()
		for _, name := range []string{"restart-production", "activate-production", "stage-production", "restart-prerelease", "activate-prerelease", "stage-prerelease"} {
			n.ran(name, runbook.RunUndone, 2*time.Second, 1500)
		}
		n.rel.FinishedAt = n.start.Add(n.at)
		return n.record()
	}, []string{
		"RECAP release 2.4.0 (#4) rolled_back in 8m48s\n",
		"  prod1  ok=1  changed=0  failed=0  skipped=0  undone=3  4.8s\n",
	}},

	{"interrupted", func() report.RecapRecord {
		n := newRecapNight(runbook.KindRelease, runbook.ReleasePaused)
		n.ran("build-ear", runbook.RunInterrupted, 3*time.Second, 0)
		return n.record()
	}, []string{
		"RECAP release 2.4.0 (#4) paused after 4.0s\n",
		"  local  ok=0  changed=0  failed=0  skipped=0  interrupted=1  0ms\n",
	}},

	{"rollback-to", func() report.RecapRecord {
		start := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
		rel := &runbook.Release{ID: 5, Version: "2.3.0", Kind: runbook.KindRollback, State: runbook.ReleaseSucceeded, StartedAt: start, FinishedAt: start.Add(40 * time.Second)}
		sw := &runbook.StepRun{Name: "switch-production", Kind: runbook.KindActivate, State: runbook.RunSucceeded, Attempts: 1, StartedAt: start, FinishedAt: start.Add(time.Second),
			Hosts: []*runbook.HostRun{{Host: "prod1", State: runbook.RunSucceeded, Attempts: 1, DurationMS: 90, Detail: `{"version":"2.3.0","previous":"2.4.0"}`}}}
		return report.RecapRecord{Release: rel, Steps: []*runbook.StepRun{sw}}
	}, []string{"RECAP rollback to 2.3.0 (#5) succeeded in 40.0s\n", "  prod1  ok=1  changed=1  failed=0  skipped=0  90ms\n"}},
}

// TestRecapGolden renders the recap of each end of a command as start,
// resume and rollback print it without colour, and compares it with
// testdata/recap-<case>.golden (go test -update rewrites them).
func TestRecapGolden(t *testing.T) {
	for _, tc := range recapCases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := report.Recap(&b, tc.rec(), report.Style{}); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("the recap lacks %q:\n%s", w, b.String())
				}
			}
			golden(t, filepath.Join("testdata", "recap-"+tc.name+".golden"), b.Bytes())
		})
	}
}

// A host name recorded before names were checked cannot act on the
// terminal the recap goes to.
func TestRecapIsTerminalSafe(t *testing.T) {
	n := newRecapNight(runbook.KindRelease, runbook.ReleaseSucceeded)
	n.released()
	n.steps[0].Hosts[0].Host = "local\x1b]52;c;ZXZpbA==\a"
	var b bytes.Buffer
	if err := report.Recap(&b, n.record(), report.Style{}); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\a") {
		t.Errorf("the recap passes an escape sequence on:\n%q", b.String())
	}
}
