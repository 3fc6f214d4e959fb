package runbook

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// The SPEC §4 tables, written out independently of fsm.go so that a change
// to either side shows up here.
var wantRelease = map[string]map[string]string{ // from → event → to
	"planned":         {"start": "running", "abort": "aborted"},
	"running":         {"pause": "paused", "fail": "failed", "succeed": "succeeded", "rollback": "rolling_back", "abort": "aborted"},
	"paused":          {"resume": "running", "rollback": "rolling_back", "abort": "aborted"},
	"failed":          {"retry": "running", "rollback": "rolling_back", "abort": "aborted"},
	"succeeded":       {"rollback": "rolling_back"},
	"rolling_back":    {"rolled_back": "rolled_back", "rollback_fail": "rollback_failed", "pause": "paused", "abort": "aborted"},
	"rollback_failed": {"rollback": "rolling_back", "abort": "aborted"},
	"rolled_back":     {},
	"aborted":         {},
}

var wantRun = map[string]map[string]string{
	"pending":     {"start": "running", "skip": "skipped"},
	"running":     {"succeed": "succeeded", "fail": "failed", "interrupt": "interrupted"},
	"succeeded":   {"undo": "undoing"},
	"failed":      {"retry": "running", "skip": "skipped", "undo": "undoing"},
	"skipped":     {},
	"interrupted": {"rerun": "running", "mark_done": "succeeded", "skip": "skipped", "undo": "undoing"},
	"undoing":     {"undone": "undone", "undo_fail": "undo_failed", "interrupt": "interrupted"},
	"undone":      {},
	"undo_failed": {"undo": "undoing"},
}

var allReleaseEvents = []string{EvStart, EvPause, EvResume, EvFail, EvRetry, EvSucceed, EvRollback, EvRolledBack, EvRollbackFail, EvAbort}
var allRunEvents = []string{EvStart, EvSucceed, EvFail, EvSkip, EvInterrupt, EvRerun, EvMarkDone, EvRetry, EvUndo, EvUndone, EvUndoFail}

type recorded struct{ from, to, event string }

func checkMachine(t *testing.T, table map[string]map[string]string, events []string, restore func(string, Persist) (*Machine, error)) {
	t.Helper()
	for from, allowed := range table {
		for _, ev := range events {
			var got []recorded
			m, err := restore(from, func(_ context.Context, f, to, e string) error {
				got = append(got, recorded{f, to, e})
				return nil
			})
			if err != nil {
				t.Fatalf("restore %s: %v", from, err)
			}
			err = m.Fire(context.Background(), ev)
			want, ok := allowed[ev]
			if ok {
				if err != nil {
					t.Errorf("%s --%s--> want %s, got error %v", from, ev, want, err)
					continue
				}
				if m.Current() != want {
					t.Errorf("%s --%s--> %s, want %s", from, ev, m.Current(), want)
				}
				if len(got) != 1 || got[0] != (recorded{from, want, ev}) {
					t.Errorf("%s --%s--> persisted %v, want exactly one row %s→%s", from, ev, got, from, want)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s --%s--> allowed (to %s), want refused", from, ev, m.Current())
			}
			if m.Current() != from || len(got) != 0 {
				t.Errorf("%s --%s--> refused but moved to %s / persisted %v", from, ev, m.Current(), got)
			}
		}
	}
}

func TestReleaseMachineTransitions(t *testing.T) {
	checkMachine(t, wantRelease, allReleaseEvents, func(s string, p Persist) (*Machine, error) {
		return NewReleaseMachine(ReleaseState(s), p)
	})
}

func TestRunMachineTransitions(t *testing.T) {
	checkMachine(t, wantRun, allRunEvents, func(s string, p Persist) (*Machine, error) {
		return NewRunMachine(RunState(s), p)
	})
}

func TestEveryStateIsCovered(t *testing.T) {
	for _, s := range ReleaseStates {
		if _, ok := wantRelease[string(s)]; !ok {
			t.Errorf("release state %s missing from the test table", s)
		}
	}
	for _, s := range RunStates {
		if _, ok := wantRun[string(s)]; !ok {
			t.Errorf("run state %s missing from the test table", s)
		}
	}
}

func TestRestoreRefusesUnknownState(t *testing.T) {
	if _, err := NewReleaseMachine("exploded", nil); !errors.Is(err, ErrBadState) {
		t.Fatalf("release: got %v, want ErrBadState", err)
	}
	if _, err := NewRunMachine("Running", nil); !errors.Is(err, ErrBadState) {
		t.Fatalf("run: got %v, want ErrBadState", err)
	}
}

func TestFailedPersistCancelsTransition(t *testing.T) {
	boom := errors.New("disk full")
	m, err := NewRunMachine(RunPending, func(context.Context, string, string, string) error { return boom })
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fire(context.Background(), EvStart); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the persist error", err)
	}
	if m.Current() != string(RunPending) {
		t.Fatalf("machine moved to %s although the commit failed", m.Current())
	}
}

func TestFireIgnoresCancelledContext(t *testing.T) {
	// Ctrl-C cancels the walk's context; "paused" must still be recorded.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	persisted := false
	m, _ := NewReleaseMachine(ReleaseRunning, func(context.Context, string, string, string) error { persisted = true; return nil })
	if err := m.Fire(ctx, EvPause); err != nil {
		t.Fatal(err)
	}
	if !persisted || m.Current() != string(ReleasePaused) {
		t.Fatalf("pause on a cancelled context: persisted=%v state=%s", persisted, m.Current())
	}
}

func TestAvailableIsSorted(t *testing.T) {
	m, _ := NewReleaseMachine(ReleaseRunning, nil)
	a := m.Available()
	if !sort.StringsAreSorted(a) || len(a) != len(wantRelease["running"]) {
		t.Fatalf("Available() = %v", a)
	}
}

func TestMermaid(t *testing.T) {
	m, _ := NewReleaseMachine(ReleasePlanned, nil)
	out, err := m.Mermaid()
	if err != nil {
		t.Fatal(err)
	}
	for from, evs := range wantRelease {
		for ev, to := range evs {
			if !strings.Contains(out, fmt.Sprintf("%s --> %s: %s", from, to, ev)) {
				t.Errorf("mermaid lacks %s --> %s: %s\n%s", from, to, ev, out)
			}
		}
	}
}
