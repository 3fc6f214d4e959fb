package engine

import (
	"context"
	"fmt"
	"os"

	"github.com/runbook-dev/runbook/runbook"
)

// ensureArtifact makes the artifact's checksum of record known to the
// host runs of upload step s before any of them starts. A hash that
// differs from the one recorded means the EAR was rebuilt after it was
// staged somewhere: hosts would run different builds, so the operator
// decides.
//
// When no answer of the hash could stop the copies (sumCanWait), it
// hashes nothing and returns later: the step then starts the copies
// while the artifact is still being hashed (hashLater), and each waits
// for the sum only to verify what it staged, before its rename. The sum
// is recorded with the release before the first host waiting for it
// goes on, so nothing is ever renamed into place under a checksum the
// record does not hold.
func (w *walk) ensureArtifact(ctx context.Context, s *runbook.Step) (later bool, err error) {
	if w.hashed {
		return false, nil
	}
	if later, err := w.sumCanWait(ctx, s); err != nil || later {
		return later, err
	}
	sum, size, err := w.hashArtifact(ctx, w.e.takeAhead())
	if err != nil {
		return false, err
	}
	rel := w.rel()
	art := w.rb.Artifact
	if rel.ArtifactSHA256 != "" && rel.ArtifactSHA256 != sum {
		msg := fmt.Sprintf("artifact %s changed since this release first staged it (sha256 %s… then, %s… now)", art.Path, short(rel.ArtifactSHA256), short(sum))
		w.cfg.UI.Warn(msg)
		const useNew = "Use the new artifact"
		choice, err := w.ask.Choose(Question{Msg: "Stage the new artifact anyway? Hosts would run different builds.", Options: []string{useNew, ChPause}, Default: ChPause,
			Refuse: msg, Hint: "restore the artifact that was staged, or decide in a terminal (runbook resume without --yes)"})
		if err != nil {
			return false, err
		}
		if choice == ChPause {
			return false, w.pause(ctx)
		}
		w.rec.note(ctx, "deviation", "", "", msg+"; the operator chose the new artifact")
	}
	if rel.ArtifactSHA256 == "" {
		if err := w.sameArtifact(ctx, sum, true); err != nil {
			return false, err
		}
	}
	if err := w.keepSum(ctx, sum, size); err != nil {
		return false, err
	}
	w.artifact, w.hashed = sum, true
	return false, nil
}

// hashArtifact returns the artifact's SHA-256 and the number of bytes it
// hashed: ahead's when the file is still the one it read, else read now.
func (w *walk) hashArtifact(ctx context.Context, ahead *artifactHash) (string, int64, error) {
	if sum, size, ok := ahead.result(ctx); ok {
		return sum, size, nil
	}
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	art := w.rb.Artifact
	sum, size, err := runbook.HashFile(art.Abs)
	if err != nil {
		return "", 0, runbook.WithHint(fmt.Errorf("artifact %s: %w", art.Path, err), "build it first (the build steps), or fix artifact.path")
	}
	return sum, size, nil
}

// keepSum records sum and size as the release's artifact, unless they
// are already.
func (w *walk) keepSum(ctx context.Context, sum string, size int64) error {
	rel := w.rel()
	if rel.ArtifactSHA256 == sum && rel.ArtifactSize == size {
		return nil
	}
	rel.ArtifactSHA256, rel.ArtifactSize = sum, size
	return w.cfg.Store.RecordRelease(ctx, rel, nil)
}

// sameArtifact stops a new version from shipping, unasked, the very bytes
// an earlier release of another version shipped: the classic "forgot to
// build" (the build step was skipped, the old EAR is still there). When
// the operator may not be asked (copies are under way), such an artifact
// is refused as it is under --yes, unless --same-artifact was given.
func (w *walk) sameArtifact(ctx context.Context, sum string, mayAsk bool) error {
	shipped, err := w.otherShipped(ctx)
	if err != nil {
		return err
	}
	var twin *runbook.Release
	for _, r := range shipped {
		if r.ArtifactSHA256 == sum {
			twin = r
		}
	}
	if twin == nil {
		return nil
	}
	msg := fmt.Sprintf("artifact %s is byte-identical to the one release %s (#%d) shipped (sha256 %s…): was the build skipped?",
		w.rb.Artifact.Path, twin.Version, twin.ID, short(sum))
	const hint = "build the new version first, or pass --same-artifact to ship the same bytes under a new version"
	if !w.cfg.SameArtifact && !mayAsk {
		// Copies are under way, beside which nobody is asked: none is
		// renamed, and the walk stops as it does under --yes (exit 3).
		// The next attempt finds this twin before it copies, and asks.
		return runbook.WithHint(fmt.Errorf("%w: %s", runbook.ErrNeedsHuman, msg), hint)
	}
	w.cfg.UI.Warn(msg)
	if !w.cfg.SameArtifact {
		const same = "Stage the same artifact"
		choice, err := w.ask.Choose(Question{Msg: fmt.Sprintf("Ship it as %s anyway?", w.rel().Version), Options: []string{ChPause, same}, Default: ChPause,
			Refuse: msg, Hint: hint})
		if err != nil {
			return err
		}
		if choice == ChPause {
			return w.pause(ctx)
		}
	}
	w.rec.note(ctx, "deviation", "", "", fmt.Sprintf("shipped the same artifact as release %s (#%d), sha256 %s", twin.Version, twin.ID, sum))
	return nil
}

// sumCanWait reports whether the copies of upload step s may start
// before the artifact is hashed: when nothing its hash could show would
// make runbook ask the operator or stop. That is a release that has not
// recorded an artifact yet (a resume after a staging compares the hash
// with the one recorded), whose artifact cannot be another version's:
// --same-artifact, or no release of another version recorded one of the
// same size. A relay needs the sum to name its copy, and a verify or
// check command of the step may be rendered with it.
func (w *walk) sumCanWait(ctx context.Context, s *runbook.Step) (bool, error) {
	if s.Relay != nil || s.Verify != "" || s.Check != "" || w.rel().ArtifactSHA256 != "" {
		return false, nil
	}
	fi, err := os.Stat(w.rb.Artifact.Abs)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return false, nil // hashing first says what is wrong with it
	}
	if w.cfg.SameArtifact {
		return true, nil
	}
	shipped, err := w.otherShipped(ctx)
	if err != nil {
		return false, err
	}
	for _, r := range shipped {
		if r.ArtifactSize == 0 || r.ArtifactSize == fi.Size() {
			return false, nil
		}
	}
	return true, nil
}

// otherShipped are the releases of other versions that recorded an
// artifact, oldest first: the ones whose bytes a new version must not
// ship unasked.
func (w *walk) otherShipped(ctx context.Context) ([]*runbook.Release, error) {
	rels, err := w.cfg.Store.Releases(ctx)
	if err != nil {
		return nil, err
	}
	var out []*runbook.Release
	for _, r := range rels {
		if r.Kind == runbook.KindRelease && r.Version != w.rel().Version && r.ArtifactSHA256 != "" {
			out = append(out, r)
		}
	}
	return out, nil
}
