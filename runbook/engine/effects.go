package engine

import (
	"context"
	"fmt"

	"github.com/runbook-dev/runbook/runbook"
)

// ensureArtifact hashes the artifact before the first upload of a walk and
// records the hash with the release. A hash that differs from the one
// recorded means the EAR was rebuilt after it was staged somewhere: hosts
// would run different builds, so the operator decides. It runs before the
// host runs of the upload start, which only read the hash.
func (w *walk) ensureArtifact(ctx context.Context) error {
	rel := w.rel()
	if w.hashed {
		return nil
	}
	art := w.rb.Artifact
	sum, ok := w.e.takeAhead(ctx)
	if !ok {
		var err error
		if sum, err = runbook.HashFile(art.Abs); err != nil {
			return runbook.WithHint(fmt.Errorf("artifact %s: %w", art.Path, err), "build it first (the build steps), or fix artifact.path")
		}
	}
	if rel.ArtifactSHA256 != "" && rel.ArtifactSHA256 != sum {
		msg := fmt.Sprintf("artifact %s changed since this release first staged it (sha256 %s… then, %s… now)", art.Path, short(rel.ArtifactSHA256), short(sum))
		w.cfg.UI.Warn(msg)
		const useNew = "Use the new artifact"
		choice, err := w.ask.Choose(Question{Msg: "Stage the new artifact anyway? Hosts would run different builds.", Options: []string{useNew, ChPause}, Default: ChPause,
			Refuse: msg, Hint: "restore the artifact that was staged, or decide in a terminal (runbook resume without --yes)"})
		if err != nil {
			return err
		}
		if choice == ChPause {
			return w.pause(ctx)
		}
		w.rec.note(ctx, "deviation", "", "", msg+"; the operator chose the new artifact")
	}
	if rel.ArtifactSHA256 == "" {
		if err := w.sameArtifact(ctx, sum); err != nil {
			return err
		}
	}
	if rel.ArtifactSHA256 != sum {
		rel.ArtifactSHA256 = sum
		if err := w.cfg.Store.RecordRelease(ctx, rel, nil); err != nil {
			return err
		}
	}
	w.artifact, w.hashed = sum, true
	return nil
}

// sameArtifact stops a new version from shipping, unasked, the very bytes
// an earlier release of another version shipped: the classic "forgot to
// build" (the build step was skipped, the old EAR is still there).
func (w *walk) sameArtifact(ctx context.Context, sum string) error {
	rels, err := w.cfg.Store.Releases(ctx)
	if err != nil {
		return err
	}
	var twin *runbook.Release
	for _, r := range rels {
		if r.Kind == runbook.KindRelease && r.Version != w.rel().Version && r.ArtifactSHA256 == sum {
			twin = r
		}
	}
	if twin == nil {
		return nil
	}
	msg := fmt.Sprintf("artifact %s is byte-identical to the one release %s (#%d) shipped (sha256 %s…): was the build skipped?",
		w.rb.Artifact.Path, twin.Version, twin.ID, short(sum))
	w.cfg.UI.Warn(msg)
	if !w.cfg.SameArtifact {
		const same = "Stage the same artifact"
		choice, err := w.ask.Choose(Question{Msg: fmt.Sprintf("Ship it as %s anyway?", w.rel().Version), Options: []string{ChPause, same}, Default: ChPause,
			Refuse: msg, Hint: "build the new version first, or pass --same-artifact to ship the same bytes under a new version"})
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
