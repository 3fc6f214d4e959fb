package runbook

import (
	"context"
	"testing"
)

// liveStore answers LiveVersions; any other Store method panics.
type liveStore struct {
	Store
	live []Live
}

func (s liveStore) LiveVersions(context.Context) ([]Live, error) { return s.live, nil }

// The version to fall back to must be the same before a rollback starts
// and when it is resumed after a crash, whatever hosts it switched back.
func TestPreviousWhileRollingBack(t *testing.T) {
	rel := &Release{ID: 2, Version: "2.0"}
	for _, tc := range []struct {
		what string
		live []Live
	}{
		{"before the rollback", []Live{
			{Env: "production", Host: "prod1", Version: "2.0", Previous: "1.0", ReleaseID: 2},
			{Env: "production", Host: "prod2", Version: "2.0", Previous: "1.0", ReleaseID: 2},
		}},
		{"prod2 switched back before a crash", []Live{
			{Env: "production", Host: "prod1", Version: "2.0", Previous: "1.0", ReleaseID: 2},
			{Env: "production", Host: "prod2", Version: "1.0", Previous: "2.0", ReleaseID: 2},
		}},
		{"both switched back", []Live{
			{Env: "production", Host: "prod2", Version: "1.0", Previous: "2.0", ReleaseID: 2},
			{Env: "production", Host: "prod1", Version: "1.0", Previous: "2.0", ReleaseID: 2},
		}},
	} {
		w := &Walker{Store: liveStore{live: tc.live}, rel: rel}
		if err := w.loadPrevious(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := w.previous["production"]; got != "1.0" {
			t.Errorf("%s: previous of production = %q, want 1.0", tc.what, got)
		}
	}
}
