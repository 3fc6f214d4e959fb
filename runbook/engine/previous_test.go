package engine

import (
	"context"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

// liveStore answers LiveVersions; any other Store method panics.
type liveStore struct {
	runbook.Store
	live []runbook.Live
}

func (s liveStore) LiveVersions(context.Context) ([]runbook.Live, error) { return s.live, nil }

// The version to fall back to must be the same before a rollback starts
// and when it is resumed after a crash, whatever hosts it switched back.
func TestPreviousWhileRollingBack(t *testing.T) {
	rel := &runbook.Release{ID: 2, Version: "2.0"}
	for _, tc := range []struct {
		what string
		live []runbook.Live
	}{
		{"before the rollback", []runbook.Live{
			{Env: "production", Host: "prod1", Version: "2.0", Previous: "1.0", ReleaseID: 2},
			{Env: "production", Host: "prod2", Version: "2.0", Previous: "1.0", ReleaseID: 2},
		}},
		{"prod2 switched back before a crash", []runbook.Live{
			{Env: "production", Host: "prod1", Version: "2.0", Previous: "1.0", ReleaseID: 2},
			{Env: "production", Host: "prod2", Version: "1.0", Previous: "2.0", ReleaseID: 2},
		}},
		{"both switched back", []runbook.Live{
			{Env: "production", Host: "prod2", Version: "1.0", Previous: "2.0", ReleaseID: 2},
			{Env: "production", Host: "prod1", Version: "1.0", Previous: "2.0", ReleaseID: 2},
		}},
	} {
		cfg := &Config{Store: liveStore{live: tc.live}}
		w := &walk{night: &night{cfg: cfg, rec: newRecorder(cfg, rel)}}
		if err := w.loadPrevious(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := w.previous["production"]; got != "1.0" {
			t.Errorf("%s: previous of production = %q, want 1.0", tc.what, got)
		}
	}
}
