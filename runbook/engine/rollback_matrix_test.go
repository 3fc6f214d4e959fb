package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/runbooktest"
)

// The rollback matrix: `runbook rollback` of 1.1 (over 1.0) is killed at
// every hit of every crash point a rollback meets, and inside the undo
// commands and the restarts after the switch back in every way a command
// can die; `runbook rollback --yes` then continues it. Whatever happened,
// it ends rolled back with 1.0 live and verified on every host, and no
// undo ran more often than its doubt allows: a command undo or a restart
// once, or twice when the kill left it in doubt (undos and restarts are
// safe to repeat); a built-in undo (switch, unstage) at most twice.
func TestRollbackMatrix(t *testing.T) {
	rb := load(t, rollbackNight)
	cases := 0
	for _, point := range []string{runbook.PointUndoBefore, runbook.PointUndoAfter, runbook.PointStateTx} {
		for n := 1; ; n++ {
			died := false
			t.Run(fmt.Sprintf("%s#%d", point, n), func(t *testing.T) {
				w := twoReleases(t, rb)
				base := counts(w)
				_, died = w.Process(runbooktest.ProcessOptions{Yes: true}).Run(context.Background(), &runbooktest.Crash{Point: point, N: n}, rollback)
				if died {
					checkRolledBack(t, w, base, false)
				}
			})
			cases++
			if !died {
				break
			}
		}
	}
	for _, target := range []struct{ what, step string }{{"undo", "migrate"}, {"do", "restart"}} {
		for _, host := range []string{"p1", "p2"} {
			for _, death := range []runbooktest.Death{runbooktest.DieBeforeEffect, runbooktest.DieAfterEffect, runbooktest.DieHostGoesOn, runbooktest.DieStillRunning} {
				t.Run(fmt.Sprintf("%s-%s-on-%s-death%d", target.what, target.step, host, death), func(t *testing.T) {
					w := twoReleases(t, rb)
					base := counts(w)
					var once atomic.Bool
					script := func(c *runbook.Call, what string) runbooktest.Fault {
						if what == target.what && c.Step.Name == target.step && c.Host.Name == host && once.CompareAndSwap(false, true) {
							return runbooktest.Fault{Die: death}
						}
						return runbooktest.Fault{}
					}
					_, died := w.Process(runbooktest.ProcessOptions{Yes: true, Script: script}).Run(context.Background(), nil, rollback)
					if !died {
						t.Fatalf("the rollback did not die in %s %s on %s", target.what, target.step, host)
					}
					checkRolledBack(t, w, base, true)
				})
				cases++
			}
		}
	}
	t.Logf("%d rollback crash cases", cases)
}

// counts takes the effects of the rollback's steps on both hosts.
func counts(w *runbooktest.World) map[string]int {
	c := map[string]int{}
	for _, h := range []string{"p1", "p2"} {
		for _, e := range []string{"undo:migrate", "undo:stage", "undo:activate", "do:restart"} {
			c[h+" "+e] = w.Hosts.Count(h, e)
		}
	}
	return c
}

// checkRolledBack continues a killed rollback to its end and checks it.
func checkRolledBack(t *testing.T, w *runbooktest.World, base map[string]int, inCommand bool) {
	t.Helper()
	mustRun(t, w, runbooktest.ProcessOptions{Yes: true}, rollback, nil)
	if got := w.Release().State; got != runbook.ReleaseRolledBack {
		t.Fatalf("release is %s, want rolled_back", got)
	}
	after := counts(w)
	for k, n := range after {
		d, most := n-base[k], 1
		switch {
		case strings.HasSuffix(k, "undo:stage"), strings.HasSuffix(k, "undo:activate"):
			most = 2 // built in, no markers: done again when interrupted
		case inCommand:
			most = 2 // the one command killed mid-way may be in doubt
		}
		if d < 1 || d > most {
			t.Errorf("%s happened %d times in the rollback, want once (at most %d)\n%s", k, d, most, w.Hosts.Effects())
		}
	}
	live, _ := w.Store.LiveVersions(context.Background())
	for _, l := range live {
		if l.Version != "1.0" || l.VerifiedAt.IsZero() {
			t.Errorf("%s: live %s, verified %v; want 1.0, verified", l.Host, l.Version, !l.VerifiedAt.IsZero())
		}
	}
	for _, h := range []string{"p1", "p2"} {
		if c := w.Hosts.Host(h).Current; c != "1.0" {
			t.Errorf("%s: current %s, want 1.0", h, c)
		}
		if !restartedAfterSwitch(w.Hosts.Host(h).Effects) {
			t.Errorf("%s: the last switch back is not followed by a restart: %v", h, w.Hosts.Host(h).Effects)
		}
	}
}
