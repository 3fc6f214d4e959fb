package remote

import (
	"slices"
	"testing"
	"time"
)

func TestReleasesToRemove(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Staged oldest to newest by mtime; names deliberately do not sort so.
	staged := []stagedRelease{
		{"2.10", base.Add(5 * time.Hour)},
		{"1.0", base},
		{"2.9", base.Add(4 * time.Hour)},
		{"1.1", base.Add(time.Hour)},
		{"2.0", base.Add(2 * time.Hour)},
		{"2.1", base.Add(3 * time.Hour)},
	}
	for _, tc := range []struct {
		name           string
		keep           int
		live, previous string
		protect        []string
		want           []string
	}{
		{"keep 0 keeps all", 0, "2.10", "2.9", nil, nil},
		{"keep more than staged", 10, "2.10", "2.9", nil, nil},
		{"by mtime not by name", 2, "2.10", "2.9", nil, []string{"1.0", "1.1", "2.0", "2.1"}},
		{"old previous survives", 2, "2.10", "1.0", nil, []string{"1.1", "2.0", "2.1"}},
		{"old live survives (rollback)", 1, "1.1", "2.10", nil, []string{"1.0", "2.0", "2.1", "2.9"}},
		{"protected survives", 2, "2.10", "2.9", []string{"1.1"}, []string{"1.0", "2.0", "2.1"}},
		{"keep 1 still keeps previous", 1, "2.10", "2.9", nil, []string{"1.0", "1.1", "2.0", "2.1"}},
		{"no previous", 3, "2.10", "", nil, []string{"1.0", "1.1", "2.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := releasesToRemove(staged, tc.keep, tc.live, tc.previous, tc.protect)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for _, v := range got {
				if v == tc.live || v == tc.previous {
					t.Errorf("removes %s, which is live or previous", v)
				}
			}
		})
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{"2.4.0": true, "v1-rc1": true, "": false, ".": false, "..": false, "a/b": false, "../etc": false} {
		if err := checkVersion(v); (err == nil) != ok {
			t.Errorf("checkVersion(%q) = %v", v, err)
		}
	}
}
