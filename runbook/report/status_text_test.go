package report_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/report"
)

// statusNight builds the records `runbook status` reads, by hand: the
// billing-center night at the moment each case stops it.
type statusNight struct {
	start time.Time
	rel   *runbook.Release
	steps []*runbook.StepRun
	notes []runbook.Note
	live  []runbook.Live
}

func newStatusNight(state runbook.ReleaseState) *statusNight {
	start := time.Date(2026, 11, 26, 21, 0, 0, 0, time.UTC)
	n := &statusNight{start: start, rel: &runbook.Release{
		ID: 3, Version: "2.4.0", Kind: runbook.KindRelease, State: state, Operator: "alice", Machine: "ops-box",
		StartedAt: start, RunbookName: "billing-center", ArtifactPath: "target/billing.ear",
	}}
	for _, s := range []struct {
		name  string
		kind  runbook.StepKind
		env   string
		hosts []string
	}{
		{"build-ear", runbook.KindRun, "build", []string{"local"}},
		{"stage-prerelease", runbook.KindUpload, "prerelease", []string{"pre1"}},
		{"restart-prerelease", runbook.KindOp, "prerelease", []string{"pre1"}},
		{"qa-signoff", runbook.KindConfirm, "", nil},
		{"stage-production", runbook.KindUpload, "production", []string{"prod1", "prod2"}},
		{"restart-production", runbook.KindOp, "production", []string{"prod1", "prod2"}},
	} {
		sr := &runbook.StepRun{Name: s.name, Kind: s.kind, Env: s.env, State: runbook.RunPending}
		for _, h := range s.hosts {
			sr.Hosts = append(sr.Hosts, &runbook.HostRun{Host: h, State: runbook.RunPending, ExitCode: -1})
		}
		n.steps = append(n.steps, sr)
	}
	return n
}

func (n *statusNight) step(name string) *runbook.StepRun {
	for _, s := range n.steps {
		if s.Name == name {
			return s
		}
	}
	panic("no step " + name)
}

// ran records a step's last attempt, from..to after the start (to 0:
// not finished), with every host in the state and with the exit code.
func (n *statusNight) ran(name string, state runbook.RunState, from, to time.Duration, code int) *runbook.StepRun {
	s := n.step(name)
	s.State, s.Attempts = state, max(s.Attempts, 1)
	s.StartedAt, s.FinishedAt = n.start.Add(from), time.Time{}
	if to > 0 {
		s.FinishedAt = n.start.Add(to)
	}
	for _, h := range s.Hosts {
		h.State, h.ExitCode, h.Attempts = state, code, s.Attempts
	}
	return s
}

// succeeded records the steps as done, one after the other.
func (n *statusNight) succeeded(names ...string) {
	at := time.Duration(0)
	for _, name := range names {
		n.ran(name, runbook.RunSucceeded, at, at+1500*time.Millisecond, 0)
		at += 2 * time.Minute
	}
	n.rel.ArtifactSHA256 = earSHA
}

func (n *statusNight) finished(after time.Duration) { n.rel.FinishedAt = n.start.Add(after) }

func (n *statusNight) record() report.StatusRecord {
	return report.StatusRecord{Release: n.rel, Steps: n.steps, Notes: n.notes, Live: n.live}
}

var allSteps = []string{"build-ear", "stage-prerelease", "restart-prerelease", "qa-signoff", "stage-production", "restart-production"}

// statusCases are the moments of a night an operator types `runbook
// status` at, with what its text must say (so a careless -update cannot
// bless a text that lost it).
var statusCases = []struct {
	name string
	rec  func() report.StatusRecord
	want []string
	not  []string
}{
	{"planned", func() report.StatusRecord {
		// Recorded, but no step has run yet: no artifact checksum, no host
		// lines, nothing live.
		return newStatusNight(runbook.ReleasePlanned).record()
	}, []string{"— planned\n", ", unfinished\n", "next: `runbook resume` continues at build-ear; `runbook rollback` undoes the release; `runbook abort` ends it\n"},
		[]string{"artifact", "live:", "exit"}},

	{"running", func() report.StatusRecord {
		n := newStatusNight(runbook.ReleaseRunning)
		n.succeeded("build-ear", "stage-prerelease", "restart-prerelease", "qa-signoff")
		s := n.ran("stage-production", runbook.RunRunning, 10*time.Minute, 0, -1)
		s.Hosts[1].State = runbook.RunSucceeded
		s.Hosts[1].ExitCode = 0
		n.live = []runbook.Live{{Env: "prerelease", Host: "pre1", Version: "2.4.0"}}
		return n.record()
	}, []string{"— running\n", "        prod1          running\n", "        prod2          succeeded exit 0\n",
		"next: it is running (or its process died at stage-production)"}, nil},

	{"paused-interrupted", func() report.StatusRecord {
		n := newStatusNight(runbook.ReleasePaused)
		n.succeeded("build-ear", "stage-prerelease")
		s := n.ran("restart-prerelease", runbook.RunInterrupted, 5*time.Minute, 0, -1)
		s.Reason = "found running after a crash"
		n.notes = []runbook.Note{{At: n.start.Add(9 * time.Minute), Kind: "resume", Text: "resumed by alice after a crash", Operator: "alice"}}
		return n.record()
	}, []string{"— paused\n", "interrupted", "      reason: found running after a crash\n", "        pre1           interrupted\n",
		"next: `runbook resume` continues at restart-prerelease; `runbook rollback` undoes the release; `runbook abort` ends it\n"},
		[]string{"deviations:", "resumed by alice"}},

	{"failed", func() report.StatusRecord {
		n := newStatusNight(runbook.ReleaseFailed)
		n.succeeded("build-ear", "stage-prerelease")
		s := n.ran("restart-prerelease", runbook.RunFailed, 5*time.Minute, 5*time.Minute+16250*time.Millisecond, 1)
		s.Attempts, s.Hosts[0].Attempts = 2, 2
		s.Reason = "restart-prerelease failed on pre1 (exit 1)"
		s.Hosts[0].OutputTail = "restarting jboss (db password=****)\nwaiting for jboss\nwaiting for jboss\nwaiting for jboss\nhealth: HTTP 503 from http://localhost:8080/billing/health\nverify failed after 5 tries\n"
		n.live = []runbook.Live{{Env: "prerelease", Host: "pre1", Version: "2.4.0"}}
		return n.record()
	}, []string{"— failed\n", "(2 attempts)", "        pre1           failed exit 1\n", "          verify failed after 5 tries\n",
		"next: step restart-prerelease failed: fix the cause, then `runbook resume` retries it (or `runbook rollback` undoes the release)\n"},
		[]string{"restarting jboss"}}, // only the last five lines of the tail

	{"succeeded", func() report.StatusRecord {
		n := newStatusNight(runbook.ReleaseSucceeded)
		n.succeeded(allSteps...)
		n.finished(12 * time.Minute)
		verified := n.start.Add(11 * time.Minute)
		n.live = []runbook.Live{
			{Env: "production", Host: "prod1", Version: "2.4.0", VerifiedAt: verified}, {Env: "production", Host: "prod2", Version: "2.4.0"},
			{Env: "prerelease", Host: "pre1", Version: "2.4.0", VerifiedAt: verified},
		}
		return n.record()
	}, []string{"— succeeded\n", "ended 2026-11-26 21:12:00 Z\n", "        prod2          succeeded exit 0\n",
		"  live:\n    prerelease   pre1=2.4.0\n    production   prod1=2.4.0 prod2=2.4.0 (not verified)\n",
		"next: nothing: the release succeeded."},
		[]string{"        pre1 ", "deviations:"}}, // a lone host that succeeded needs no line

	{"rolled-back", func() report.StatusRecord {
		n := newStatusNight(runbook.ReleaseRolledBack)
		n.succeeded(allSteps...)
		for _, name := range []string{"stage-prerelease", "restart-prerelease", "stage-production", "restart-production"} {
			n.ran(name, runbook.RunUndone, 20*time.Minute, 20*time.Minute+300*time.Millisecond, 0)
		}
		n.finished(21 * time.Minute)
		verified := n.start.Add(21 * time.Minute)
		n.live = []runbook.Live{{Env: "production", Host: "prod1", Version: "2.3.0", VerifiedAt: verified}, {Env: "production", Host: "prod2", Version: "2.3.0", VerifiedAt: verified}}
		return n.record()
	}, []string{"— rolled_back\n", "        pre1           undone exit 0\n", "    production   prod1=2.3.0 prod2=2.3.0\n", "next: nothing: the release was rolled back."}, []string{"not verified"}},

	{"deviations", func() report.StatusRecord {
		n := newStatusNight(runbook.ReleaseSucceeded)
		n.succeeded(allSteps...)
		s := n.ran("qa-signoff", runbook.RunSkipped, 6*time.Minute, 0, -1)
		s.Reason = "QA is on leave; Wang Li (DBA) accepted going without"
		n.finished(12 * time.Minute)
		n.notes = []runbook.Note{
			{At: n.start.Add(6 * time.Minute), Kind: "deviation", Step: "qa-signoff", Text: "skipped: QA is on leave;\nWang Li (DBA) accepted going without", Operator: "alice"},
			{At: n.start.Add(7 * time.Minute), Kind: "confirm", Step: "qa-signoff", Text: "confirmed at the prompt by alice", Operator: "alice"},
			{At: n.start.Add(9 * time.Minute), Kind: "deviation", Step: "stage-production", Host: "prod2", Text: "marked done by hand after a crash", Operator: "bob"},
			{At: n.start.Add(11 * time.Minute), Kind: "deviation", Text: "the artifact changed since the release started", Operator: "bob"},
		}
		return n.record()
	}, []string{"      reason: QA is on leave; Wang Li (DBA) accepted going without\n",
		"  deviations:\n",
		"    21:06 qa-signoff: skipped: QA is on leave; Wang Li (DBA) accepted going without (alice)\n",
		"    21:09 stage-production/prod2: marked done by hand after a crash (bob)\n",
		"    21:11 release: the artifact changed since the release started (bob)\n"},
		[]string{"confirmed at the prompt"}},

	{"failed-verify", func() report.StatusRecord {
		// The restart ran (exit 0) on both hosts, and prod2's verify
		// failed: the host line names it, not "exit 0".
		n := newStatusNight(runbook.ReleaseFailed)
		n.succeeded("build-ear", "stage-prerelease", "restart-prerelease", "qa-signoff", "stage-production")
		s := n.ran("restart-production", runbook.RunFailed, 10*time.Minute, 10*time.Minute+9*time.Second, 0)
		s.Reason = "step restart-production failed on prod2 (verify failed after 3 attempt(s) (exit 22): curl -fsS http://localhost:8080/billing/health)"
		s.Hosts[0].State = runbook.RunSucceeded
		s.Hosts[1].Detail = runbook.WithFailedVerify("", &runbook.FailedVerify{Command: "curl -fsS http://localhost:8080/billing/health", ExitCode: 22, Attempts: 3})
		return n.record()
	}, []string{"        prod1          succeeded exit 0\n",
		"        prod2          failed: verify failed after 3 attempt(s) (exit 22): curl -fsS http://localhost:8080/billing/health\n"},
		[]string{"failed exit 0"}},
}

// TestStatusGolden renders each moment of the night as `runbook status`
// prints it without colour, and compares it with
// testdata/status-<case>.golden (go test -update rewrites them).
func TestStatusGolden(t *testing.T) {
	for _, tc := range statusCases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := report.StatusText(&b, tc.rec(), report.Style{}); err != nil {
				t.Fatal(err)
			}
			got := b.String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the status text lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(got, w) {
					t.Errorf("the status text has %q:\n%s", w, got)
				}
			}
			golden(t, filepath.Join("testdata", "status-"+tc.name+".golden"), b.Bytes())
		})
	}
}

// TestStatusStyled shows where a terminal's colours go, with visible
// marks for them: the state column stays aligned (its padding is outside
// the colour), and times are in the style's zone.
func TestStatusStyled(t *testing.T) {
	mark := func(open, closing string) func(string) string {
		return func(s string) string { return open + s + closing }
	}
	st := report.Style{
		Zone:  time.FixedZone("CST", 8*3600),
		Bold:  mark("<b>", "</b>"),
		Faint: mark("<f>", "</f>"),
		Warn:  mark("<w>", "</w>"),
		State: mark("<s>", "</s>"),
	}
	var rec report.StatusRecord
	for _, tc := range statusCases {
		if tc.name == "deviations" {
			rec = tc.rec()
		}
	}
	var b bytes.Buffer
	if err := report.StatusText(&b, rec, st); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"<b>billing-center</b> release <b>2.4.0</b> (#3) — <s>succeeded</s>\n",
		"  started 2026-11-27 05:00:00 +08:00 by alice",
		"   1. build-ear                <s>succeeded</s>    <f>run on build</f><f> 1.5s</f>\n",
		"   4. qa-signoff               <s>skipped</s>      <f>confirm</f>\n", // no time: it never finished
		"    <f>05:09</f> stage-production/prod2: <w>marked done by hand after a crash</w> <f>(bob)</f>\n",
	} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("the styled status text lacks %q:\n%s", w, b.String())
		}
	}
	golden(t, filepath.Join("testdata", "status-styled.golden"), b.Bytes())
}

// TestStatusWriteError returns the first write error, so `runbook status`
// fails loudly on a full disk rather than printing half a status.
func TestStatusWriteError(t *testing.T) {
	err := report.StatusText(failingWriter{}, statusCases[0].rec(), report.Style{})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("StatusText = %v, want the writer's error", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

var errDiskFull = errors.New("write: disk full")

// Recorded text reaches the status terminal-safe and on its own line: a
// reason or an output tail written with escape codes or line breaks cannot
// forge a line or rewrite the operator's screen (L-7, L-8).
func TestStatusTextIsTerminalSafe(t *testing.T) {
	n := newStatusNight(runbook.ReleaseFailed)
	s := n.ran("restart-prerelease", runbook.RunFailed, 5*time.Minute, 6*time.Minute, 1)
	s.Reason = "failed\nnext: nothing to worry about"
	s.Hosts[0].OutputTail = "ok\x1b]52;c;ZXZpbA==\x07\n\x1b[2Kforged line\n"
	rec := n.record()
	rec.Notes = []runbook.Note{{At: n.start, Kind: "deviation", Step: "qa-signoff", Text: "signed\x1b[2K\rby the CEO", Operator: "alice"}}
	var b strings.Builder
	if err := report.StatusText(&b, rec, report.Style{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsRune(out, 0x1b) || strings.Contains(out, "\r") {
		t.Errorf("escape codes reached the status:\n%q", out)
	}
	if strings.Contains(out, "\nnext: nothing to worry about") {
		t.Errorf("a reason forged a line of the status:\n%s", out)
	}
}
