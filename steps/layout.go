package steps

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// The release layout of a deploy directory, the same on every transport:
//
//	releases/<version>/<artifact>    what an upload step stages
//	current  -> releases/<version>   what runs
//	previous -> releases/<version>   what ran before it
//
// previous is kept so that activating the live version again reports the
// same previous release, and so that undoing the activation knows where
// to switch back to.
//
// Whoever can write a deploy directory on a host can plant anything in it,
// so nothing read there is trusted: a version is checked before any path
// is built from it, whether it comes from the release or from a link on
// the host; releases/ and releases/<version> must be real directories
// (never links); current and previous are only ever written as
// releases/<checked version>; and the keep cleanup removes only the
// versions the state database recorded as staged on the host, oldest
// release first, never what a directory listing or the host's clock says.
// The transport primitives it is built on never follow a link.
//
// Beside them, the environment lock (docs/SPEC.md "Teams", envlock.go):
//
//	.runbook-lock/owner              who holds the environment: operator,
//	                                 machine, release, state (runbook.FormatOwner)
//
// It is taken by one rename of a directory made under a name of its own
// and already holding its owner file: rename(2) of a directory over a
// directory that is not empty fails, so of two runbooks only one gets it,
// and a lock is never seen without its owner.
const (
	releasesDir  = "releases"
	currentLink  = "current"
	previousLink = "previous"

	lockDir   = ".runbook-lock"
	lockOwner = "owner"
)

// checkVersion refuses a version that does not follow the version rule of
// SPEC §3.4 (runbook.CheckVersion: a plain directory name that no shell,
// path or terminal gives a meaning to), before any path is built from it.
// Checked again here, where the version meets a host's paths, whoever
// called. The error is not a usage error: the version may come from a
// host's directory or a record, not from the operator.
func checkVersion(v string) error {
	if runbook.CheckVersion(v) != nil {
		return fmt.Errorf("invalid release version %q: a version starts with a letter or digit, followed by at most 127 letters, digits, '.', '_', '+' or '-'", v)
	}
	return nil
}

// layout is one host's deploy directory, reached through conn.
type layout struct {
	conn remote.Conn
	dir  string // deploy_dir
	host string // for messages
}

func (l layout) path(elem ...string) string {
	return path.Join(append([]string{l.dir}, elem...)...)
}

// realDir describes the directory p, refusing a link or anything that is
// not a directory; an error wrapping fs.ErrNotExist when p is missing.
func (l layout) realDir(ctx context.Context, p string) (remote.FileInfo, error) {
	fi, err := l.conn.Lstat(ctx, p)
	switch {
	case err != nil:
		return fi, fmt.Errorf("look at %s on %s: %w", p, l.host, err)
	case fi.IsLink():
		return fi, fmt.Errorf("%s on %s is a symbolic link: runbook never follows one in a deploy directory (it could lead anywhere); replace it with a directory", p, l.host)
	case !fi.IsDir():
		return fi, fmt.Errorf("%s on %s is not a directory: move it away", p, l.host)
	}
	return fi, nil
}

// stageDir returns the directory an upload of version stages into,
// after checking that releases/ is a real directory when it exists (the
// upload creates what is missing, and refuses releases/<version> as a
// link itself).
func (l layout) stageDir(ctx context.Context, version string) (string, error) {
	if err := checkVersion(version); err != nil {
		return "", err
	}
	if _, err := l.realDir(ctx, l.path(releasesDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return l.path(releasesDir, version), nil
}

// staged checks that releases/<version> is a real directory inside a real
// releases/, and describes both; an error wrapping fs.ErrNotExist when
// either is missing.
func (l layout) staged(ctx context.Context, version string) (rels, rel remote.FileInfo, err error) {
	if err := checkVersion(version); err != nil {
		return rels, rel, err
	}
	if rels, err = l.realDir(ctx, l.path(releasesDir)); err != nil {
		return rels, rel, err
	}
	rel, err = l.realDir(ctx, l.path(releasesDir, version))
	return rels, rel, err
}

// linkVersion reads the version the link name (current or previous)
// points to: "" when there is no link. A target that is not
// releases/<valid version> (relative, or absolute inside this deploy
// directory) is no version at all: it gives "" and a warning, and is
// never passed on, since it reaches templates and shell commands as
// .Release.Previous.
func (l layout) linkVersion(ctx context.Context, name string) (version, warning string, err error) {
	target, err := l.conn.Readlink(ctx, l.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("read the %s link in %s on %s: %w", name, l.dir, l.host, err)
	}
	if v, ok := versionOfTarget(target, l.path(releasesDir)); ok {
		return v, "", nil
	}
	return "", fmt.Sprintf("%s in %s on %s points to %q, which is not releases/<version>: the release it names is unknown", name, l.dir, l.host, target), nil
}

// versionOfTarget returns the version a link target names, when it is
// releases/<version> or rels/<version> and the version follows the rule.
func versionOfTarget(target, rels string) (string, bool) {
	t := strings.TrimSuffix(target, "/")
	v, ok := strings.CutPrefix(t, releasesDir+"/")
	if !ok {
		v, ok = strings.CutPrefix(t, rels+"/")
	}
	if !ok || checkVersion(v) != nil {
		return "", false
	}
	return v, true
}

// activation is what an activate step (or its undo) asks of a host.
type activation struct {
	Version string
	// Keep is how many staged releases to keep; 0 keeps all.
	Keep int
	// Staged are the keep cleanup's candidates: the versions the store
	// records as staged on the host, oldest release first.
	Staged []string
}

// activated is what an activation did.
type activated struct {
	Previous string   // the version current pointed to before ("" for none or unknown)
	Removed  []string // versions removed by the keep cleanup, oldest first
	Warnings []string // what the operator should know (a link that named no version)
}

// activate points current at releases/<Version> atomically (a link under
// a temporary name renamed over current) and then removes staged releases
// beyond Keep. Idempotent: activating the live version again changes
// nothing and reports the same Previous.
func (l layout) activate(ctx context.Context, a activation) (activated, error) {
	var res activated
	rels, rel, err := l.staged(ctx, a.Version)
	if errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("release %s is not staged on %s (no directory %s): run the upload step first", a.Version, l.host, l.path(releasesDir, a.Version))
	}
	if err != nil {
		return res, err
	}
	live, warn, err := l.linkVersion(ctx, currentLink)
	if err != nil {
		return res, err
	}
	res.warn(warn)
	if live == a.Version {
		// Already live (a repeated or resumed activation): the previous
		// link recorded by the first one tells what it replaced.
		prev, warn, err := l.linkVersion(ctx, previousLink)
		if err != nil {
			return res, err
		}
		res.warn(warn)
		res.Previous = prev
	} else {
		// previous first: a crash between the two links leaves current
		// unchanged, and the retry writes the same previous again. With
		// no (known) previous release, an old previous link must not
		// outlive it and be reported by a repeated activation.
		res.Previous = live
		if live != "" {
			err = l.replaceLink(ctx, path.Join(releasesDir, live), previousLink, nil)
		} else {
			err = l.conn.Remove(ctx, l.path(previousLink))
		}
		if err != nil {
			return res, fmt.Errorf("record the previous release on %s: %w", l.host, err)
		}
		remote.Hit(remote.PointSwitchBefore)
		owned := func(self int) error { return l.ownedBy(self, rels, rel, a.Version) }
		if err := l.replaceLink(ctx, path.Join(releasesDir, a.Version), currentLink, owned); err != nil {
			return res, fmt.Errorf("switch current to %s on %s: %w", a.Version, l.host, err)
		}
		remote.Hit(remote.PointSwitchAfter)
	}
	if a.Keep <= 0 {
		return res, nil
	}
	for _, v := range releasesToRemove(a.Staged, a.Keep, a.Version, res.Previous) {
		removed, err := l.removeStaged(ctx, v, &res)
		if err != nil {
			return res, fmt.Errorf("remove the old release %s on %s: %w", v, l.host, err)
		}
		if removed {
			res.Removed = append(res.Removed, v)
		}
	}
	return res, nil
}

func (r *activated) warn(w string) {
	if w != "" {
		r.Warnings = append(r.Warnings, w)
	}
}

// replaceLink points the link name at target atomically: a link under a
// temporary name, renamed over name, so that readers never find it
// missing. check, when set, is given the owner of the new link (the
// connecting user, found without a round trip of its own) before the
// rename, and stops it by failing.
func (l layout) replaceLink(ctx context.Context, target, name string, check func(self int) error) error {
	tmp := l.path(name + ".tmp")
	if err := l.conn.Remove(ctx, tmp); err != nil {
		return err
	}
	if err := l.conn.Symlink(ctx, target, tmp); err != nil {
		return err
	}
	if check != nil {
		fi, err := l.conn.Lstat(ctx, tmp)
		if err == nil {
			err = check(fi.UID)
		}
		if err != nil {
			_ = l.conn.Remove(ctx, tmp)
			return err
		}
	}
	return l.conn.Rename(ctx, tmp, l.path(name))
}

// ownedBy refuses to make live a release that another user could change
// under it: releases/ and releases/<version> must belong to self.
func (l layout) ownedBy(self int, rels, rel remote.FileInfo, version string) error {
	if self < 0 {
		return nil // the transport cannot tell owners
	}
	for _, d := range []struct {
		p  string
		fi remote.FileInfo
	}{{l.path(releasesDir), rels}, {l.path(releasesDir, version), rel}} {
		if d.fi.UID >= 0 && d.fi.UID != self {
			return fmt.Errorf("%s on %s belongs to uid %d, not to the connecting user (uid %d), who could otherwise change what runs: let that user own it, or remove it and stage the release again", d.p, l.host, d.fi.UID, self)
		}
	}
	return nil
}

// removeStaged removes releases/<v>, a real directory inside releases/;
// a version that is not there (removed by hand) is skipped, and what is
// not a directory is left alone with a warning.
func (l layout) removeStaged(ctx context.Context, v string, res *activated) (bool, error) {
	if err := checkVersion(v); err != nil {
		res.warn(fmt.Sprintf("the record of what is staged on %s holds %q: %v; left alone", l.host, v, err))
		return false, nil
	}
	p := l.path(releasesDir, v)
	fi, err := l.conn.Lstat(ctx, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case !fi.IsDir():
		res.warn(fmt.Sprintf("%s on %s is not a directory (a symbolic link?): left alone", p, l.host))
		return false, nil
	}
	return true, l.conn.RemoveAll(ctx, p)
}

// releasesToRemove decides which staged releases an activation removes:
// staged lists them oldest release first (duplicates count where they
// occur last), and the newest keep of them stay, live and previous stay
// whatever their age. keep <= 0 keeps everything; so does an empty
// staged, the safe side when the record is not known. The result is
// oldest first.
func releasesToRemove(staged []string, keep int, live, previous string) []string {
	if keep <= 0 || len(staged) == 0 {
		return nil
	}
	var order []string
	for i, v := range staged {
		if !slices.Contains(staged[i+1:], v) {
			order = append(order, v)
		}
	}
	if !slices.Contains(order, live) {
		order = append(order, live) // activated now: the newest
	}
	if len(order) <= keep {
		return nil
	}
	var remove []string
	for _, v := range order[:len(order)-keep] {
		if v != live && v != previous {
			remove = append(remove, v)
		}
	}
	return remove
}

// current returns the version deploy_dir/current points to ("" for none
// or unknown) and a warning when the link names no valid version.
func (l layout) current(ctx context.Context) (string, string, error) {
	return l.linkVersion(ctx, currentLink)
}

// unstage removes releases/<version>: a real directory is removed with
// what it holds, a link itself (never its target); nothing outside
// releases/ is ever named. It reports whether anything was there.
func (l layout) unstage(ctx context.Context, version string) (bool, error) {
	if err := checkVersion(version); err != nil {
		return false, err
	}
	if _, err := l.realDir(ctx, l.path(releasesDir)); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	p := l.path(releasesDir, version)
	if _, err := l.conn.Lstat(ctx, p); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("look at %s on %s: %w", p, l.host, err)
	}
	if err := l.conn.RemoveAll(ctx, p); err != nil {
		return false, fmt.Errorf("remove %s on %s: %w", p, l.host, err)
	}
	return true, nil
}

// stagedSHA256 hashes releases/<version>/<name> on the host; an error
// wrapping fs.ErrNotExist when it is not there.
func (l layout) stagedSHA256(ctx context.Context, version, name string) (string, error) {
	if _, _, err := l.staged(ctx, version); err != nil {
		return "", err
	}
	return l.conn.SHA256(ctx, l.path(releasesDir, version, name))
}
