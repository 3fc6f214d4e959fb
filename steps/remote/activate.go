package remote

import (
	"context"
	"fmt"
	"path"
)

// releaseFS is what activation needs from a host's file system; the local
// and the SFTP transport implement it so both run the same algorithm.
type releaseFS interface {
	// isDir reports whether p is a directory (false, nil when absent).
	isDir(ctx context.Context, p string) (bool, error)
	// readlink returns the target of the link p, "" when p does not exist.
	readlink(ctx context.Context, p string) (string, error)
	// replaceLink points link at target atomically: a symlink under a
	// temporary name renamed over link, so readers never see it missing.
	replaceLink(ctx context.Context, target, link string) error
	// releases lists the directories under dir with their mtime.
	releases(ctx context.Context, dir string) ([]stagedRelease, error)
	// removeAll removes p recursively; absent is not an error.
	removeAll(ctx context.Context, p string) error
	// where names the host for messages.
	where() string
}

// activate is Conn.Activate for any releaseFS.
func activate(ctx context.Context, fs releaseFS, spec ActivateSpec) (ActivateResult, error) {
	if err := checkVersion(spec.Version); err != nil {
		return ActivateResult{}, err
	}
	rels := path.Join(spec.DeployDir, releasesDir)
	target := path.Join(releasesDir, spec.Version)
	ok, err := fs.isDir(ctx, path.Join(spec.DeployDir, target))
	if err != nil {
		return ActivateResult{}, fmt.Errorf("activate %s on %s: %w", spec.Version, fs.where(), err)
	}
	if !ok {
		return ActivateResult{}, fmt.Errorf("release %s is not staged on %s (no directory %s): run the upload step first",
			spec.Version, fs.where(), path.Join(rels, spec.Version))
	}
	cur, err := fs.readlink(ctx, path.Join(spec.DeployDir, currentLink))
	if err != nil {
		return ActivateResult{}, fmt.Errorf("read current link on %s: %w", fs.where(), err)
	}
	live := versionFromLink(cur)
	var previous string
	if live == spec.Version {
		// Already live (a repeated or resumed activation): the previous
		// link recorded by the first one tells what it replaced.
		prev, err := fs.readlink(ctx, path.Join(spec.DeployDir, previousLink))
		if err != nil {
			return ActivateResult{}, fmt.Errorf("read previous link on %s: %w", fs.where(), err)
		}
		previous = versionFromLink(prev)
	} else {
		previous = live
		// previous first: a crash between the two links leaves current
		// unchanged, and the retry writes the same previous again.
		if previous != "" {
			if err := fs.replaceLink(ctx, path.Join(releasesDir, previous), path.Join(spec.DeployDir, previousLink)); err != nil {
				return ActivateResult{}, fmt.Errorf("record previous release on %s: %w", fs.where(), err)
			}
		}
		Hit(PointSwitchBefore)
		if err := fs.replaceLink(ctx, target, path.Join(spec.DeployDir, currentLink)); err != nil {
			return ActivateResult{}, fmt.Errorf("switch current to %s on %s: %w", spec.Version, fs.where(), err)
		}
		Hit(PointSwitchAfter)
	}
	res := ActivateResult{Previous: previous}
	if spec.Keep <= 0 {
		return res, nil
	}
	staged, err := fs.releases(ctx, rels)
	if err != nil {
		return res, fmt.Errorf("list releases on %s for cleanup: %w", fs.where(), err)
	}
	for _, v := range releasesToRemove(staged, spec.Keep, spec.Version, previous, spec.Protect) {
		if err := fs.removeAll(ctx, path.Join(rels, v)); err != nil {
			return res, fmt.Errorf("remove old release %s on %s: %w", v, fs.where(), err)
		}
		res.Removed = append(res.Removed, v)
	}
	return res, nil
}

// current is Conn.Current for any releaseFS.
func current(ctx context.Context, fs releaseFS, deployDir string) (string, error) {
	cur, err := fs.readlink(ctx, path.Join(deployDir, currentLink))
	if err != nil {
		return "", fmt.Errorf("read current link in %s on %s: %w", deployDir, fs.where(), err)
	}
	return versionFromLink(cur), nil
}
