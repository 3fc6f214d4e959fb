package steps

import (
	"slices"
	"strings"
	"testing"
)

func TestReleasesToRemove(t *testing.T) {
	// Oldest release first; the names deliberately do not sort so.
	staged := []string{"1.0", "1.1", "2.0", "2.1", "2.9", "2.10"}
	for _, tc := range []struct {
		name           string
		staged         []string
		keep           int
		live, previous string
		want           []string
	}{
		{"keep 0 keeps all", staged, 0, "2.10", "2.9", nil},
		{"no record keeps all", nil, 2, "2.10", "2.9", nil},
		{"keep more than staged", staged, 10, "2.10", "2.9", nil},
		{"by record not by name", staged, 2, "2.10", "2.9", []string{"1.0", "1.1", "2.0", "2.1"}},
		{"old previous survives", staged, 2, "2.10", "1.0", []string{"1.1", "2.0", "2.1"}},
		{"old live survives (rollback)", staged, 1, "1.1", "2.10", []string{"1.0", "2.0", "2.1", "2.9"}},
		{"keep 1 still keeps previous", staged, 1, "2.10", "2.9", []string{"1.0", "1.1", "2.0", "2.1"}},
		{"no previous", staged, 3, "2.10", "", []string{"1.0", "1.1", "2.0"}},
		{"live not yet recorded is the newest", []string{"1.0", "2.0", "3.0"}, 2, "4.0", "3.0", []string{"1.0", "2.0"}},
		{"staged again counts where it was last", []string{"1.0", "2.0", "1.0", "3.0"}, 2, "3.0", "", []string{"2.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := releasesToRemove(tc.staged, tc.keep, tc.live, tc.previous)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckVersion(t *testing.T) {
	long := strings.Repeat("a", 128)
	for v, ok := range map[string]bool{
		"2.4.0": true, "v1-rc1": true, "1.0+build.7": true, "2026_12_24": true, long: true,
		"": false, ".": false, "..": false, "a/b": false, "../etc": false, ".hidden": false, "-rf": false,
		"1.0;id": false, "$(touch x)": false, "1.0\ntouch x": false, "1.0\n": false, "a b": false,
		long + "a": false, "ä": false, "1.0\x00": false,
	} {
		if err := checkVersion(v); (err == nil) != ok {
			t.Errorf("checkVersion(%q) = %v", v, err)
		}
	}
}

func TestVersionOfTarget(t *testing.T) {
	for target, want := range map[string]string{
		"releases/1.0": "1.0", "releases/1.0/": "1.0", "/srv/app/releases/2.0": "2.0",
		"/other/releases/2.0": "", "releases/../x": "", "releases/a/b": "", "1.0": "", "": "",
		`releases/x"; id`: "", "releases/\x1b[2J": "",
	} {
		got, ok := versionOfTarget(target, "/srv/app/releases")
		if got != want || ok != (want != "") {
			t.Errorf("versionOfTarget(%q) = %q %v, want %q", target, got, ok, want)
		}
	}
}
