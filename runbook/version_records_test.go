package runbook

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// recordStore answers what the walker reads before it touches anything
// with a release recorded before versions were checked; any other Store
// method panics, so reaching one fails the test.
type recordStore struct {
	Store
	unfinished *Release
	live       []Live
}

func (s recordStore) Unfinished(context.Context) (*Release, error) { return s.unfinished, nil }
func (s recordStore) LiveVersions(context.Context) ([]Live, error) { return s.live, nil }

// warnUI records warnings and ignores Info; any other UI method panics.
type warnUI struct {
	UI
	warnings []string
}

func (u *warnUI) Warn(msg string) { u.warnings = append(u.warnings, msg) }
func (u *warnUI) Info(string)     {}

const badRecorded = "../../../../victim"

// A release recorded with a version that is not one is neither resumed,
// undone nor restarted: undo would remove deploy_dir/releases/<it>.
func TestRecordedBadVersionIsRefused(t *testing.T) {
	rb := &Runbook{Envs: map[string]*Environment{}}
	bad := &Release{ID: 4, Version: badRecorded, Kind: KindRelease, State: ReleaseFailed}
	ctx := context.Background()
	for _, tc := range []struct {
		what string
		run  func(w *Walker) error
	}{
		{"resume", func(w *Walker) error { return w.Resume(ctx, "") }},
		{"start of the same version", func(w *Walker) error { return w.Start(ctx, StartOptions{Version: badRecorded}) }},
		{"rollback", func(w *Walker) error { return w.Rollback(ctx) }},
	} {
		w := &Walker{RB: rb, Store: recordStore{unfinished: bad}, UI: &warnUI{}}
		err := tc.run(w)
		var ve *VersionError
		if !errors.As(err, &ve) || !errors.Is(err, ErrUsage) {
			t.Errorf("%s: %v, want a version error", tc.what, err)
			continue
		}
		if hs := hintsOf(err); !strings.Contains(hs, "runbook abort") || strings.Contains(hs, badRecorded) {
			t.Errorf("%s: hint %q", tc.what, hs)
		}
	}
}

// Nothing is recorded for a version that is not one, whoever calls.
func TestCreateRefusesABadVersion(t *testing.T) {
	w := &Walker{RB: &Runbook{}, Store: recordStore{}}
	if err := w.create(context.Background(), "1.0;id"); !errors.Is(err, ErrUsage) {
		t.Errorf("create: %v", err)
	}
}

// A host's `current` link is read into the live record: one that is not
// a version becomes an unknown previous release, with a warning, never a
// .Release.Previous spliced into a command (M-3).
func TestBadPreviousIsUnknown(t *testing.T) {
	ui := &warnUI{}
	w := &Walker{UI: ui, rel: &Release{ID: 3, Version: "3.0"}, Store: recordStore{live: []Live{
		{Env: "production", Host: "prod1", Version: `x"; id > PWNED; echo "`, ReleaseID: 2},
		{Env: "prerelease", Host: "pre1", Version: "2.0", ReleaseID: 2},
	}}}
	if err := w.loadPrevious(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.previous["production"]; got != "" {
		t.Errorf("previous of production = %q, want unknown", got)
	}
	if got := w.previous["prerelease"]; got != "2.0" {
		t.Errorf("previous of prerelease = %q", got)
	}
	if len(ui.warnings) != 1 || !strings.Contains(ui.warnings[0], "production/prod1") {
		t.Errorf("warnings: %q", ui.warnings)
	}
}

// rollback --to without a version takes the recorded previous one: never
// one that is not a version, and its hint never suggests it.
func TestRollbackToRefusesABadPrevious(t *testing.T) {
	w := &Walker{Store: recordStore{live: []Live{{Env: "production", Host: "prod1", Version: "2.0", Previous: badRecorded}}}}
	v, err := w.previousVersion(context.Background(), []string{"production"})
	if !errors.Is(err, ErrUsage) || v != "" {
		t.Fatalf("previousVersion = %q, %v", v, err)
	}
	if hs := hintsOf(err); strings.Contains(hs, badRecorded) || !strings.Contains(hs, "--to V") {
		t.Errorf("hint %q", hs)
	}
}

func hintsOf(err error) string {
	var out []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		if he, ok := e.(*HintError); ok {
			out = append(out, he.Hint)
		}
	}
	return strings.Join(out, "; ")
}
