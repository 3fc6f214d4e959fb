package remote

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// Layout of a deploy directory, shared by every transport:
//
//	releases/<version>/<artifact>
//	current  -> releases/<version>
//	previous -> releases/<version before>
//
// previous is kept so activating the live version again reports the same
// Previous, and so the cleanup knows what a rollback would need.
const (
	releasesDir  = "releases"
	currentLink  = "current"
	previousLink = "previous"
)

// stagedRelease is one directory under releases/.
type stagedRelease struct {
	Version string
	ModTime time.Time
}

// releasesToRemove decides which staged releases an activation removes.
// The newest keep releases by the directory's mtime stay (version strings
// do not sort: 2.10 is newer than 2.9), and so do live, previous and every
// protected version whatever their age. keep <= 0 keeps everything. The
// result is oldest first.
func releasesToRemove(staged []stagedRelease, keep int, live, previous string, protect []string) []string {
	if keep <= 0 {
		return nil
	}
	sorted := slices.Clone(staged)
	slices.SortFunc(sorted, func(a, b stagedRelease) int {
		if c := b.ModTime.Compare(a.ModTime); c != 0 {
			return c
		}
		return strings.Compare(b.Version, a.Version)
	})
	var remove []string
	for i, r := range sorted {
		if i < keep || r.Version == live || r.Version == previous || slices.Contains(protect, r.Version) {
			continue
		}
		remove = append(remove, r.Version)
	}
	slices.Reverse(remove)
	return remove
}

// versionFromLink turns a current/previous link target into its version.
func versionFromLink(target string) string {
	if target == "" {
		return ""
	}
	return path.Base(strings.TrimRight(target, "/"))
}

// checkVersion refuses versions that would escape releases/ or name no
// directory, before any path is built from them.
func checkVersion(v string) error {
	if v == "" || v == "." || v == ".." || strings.ContainsAny(v, "/\x00") {
		return fmt.Errorf("invalid release version %q: it must be a plain directory name", v)
	}
	return nil
}
