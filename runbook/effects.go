package runbook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// ActionDetail is what the built-in actions record with a host run (as JSON
// in HostRun.Detail) for rollback, status and the report.
type ActionDetail struct {
	SHA256   string   `json:"sha256,omitempty"`   // upload: checksum verified on the host
	Skipped  bool     `json:"skipped,omitempty"`  // upload: already staged with that checksum
	Resumed  int64    `json:"resumed,omitempty"`  // upload: bytes of a verified partial file kept
	Bytes    int64    `json:"bytes,omitempty"`    // upload: bytes sent
	Version  string   `json:"version,omitempty"`  // activate: now live
	Previous string   `json:"previous,omitempty"` // activate: live before ("" for none)
	Removed  []string `json:"removed,omitempty"`  // activate: releases removed by keep
}

// ParseDetail decodes a host run's detail; an empty or foreign detail is zero.
func ParseDetail(s string) ActionDetail {
	var d ActionDetail
	if s != "" {
		_ = json.Unmarshal([]byte(s), &d)
	}
	return d
}

// JSON encodes the detail for Outcome.Detail.
func (d ActionDetail) JSON() string {
	b, _ := json.Marshal(d)
	return string(b)
}

// recordEffects writes what a succeeded built-in changed on the host to the
// handbook tables (staged versions, live versions) before the host run is
// marked succeeded: a crash in between re-runs an idempotent action.
func (w *Walker) recordEffects(ctx context.Context, s *Step, hr *HostRun) error {
	return notRecorded(w.storeEffects(ctx, s, hr))
}

func (w *Walker) storeEffects(ctx context.Context, s *Step, hr *HostRun) error {
	d := ParseDetail(hr.Detail)
	switch s.Kind {
	case KindUpload:
		return w.Store.AddStaged(ctx, Staged{Env: s.On, Host: hr.Host, Version: w.rel.Version, SHA256: d.SHA256, ReleaseID: w.rel.ID, At: w.now()})
	case KindActivate:
		for _, v := range d.Removed {
			if err := w.Store.AddStaged(ctx, Staged{Env: s.On, Host: hr.Host, Version: v, ReleaseID: w.rel.ID, At: w.now(), Removed: true}); err != nil {
				return err
			}
		}
		return w.Store.SetLive(ctx, Live{Env: s.On, Host: hr.Host, Version: w.rel.Version, Previous: d.Previous, ReleaseID: w.rel.ID, At: w.now()})
	}
	return nil
}

// ensureArtifact hashes the artifact before the first upload of a walk and
// records the hash with the release. A hash that differs from the one
// recorded means the EAR was rebuilt after it was staged somewhere: hosts
// would run different builds, so the operator decides.
func (w *Walker) ensureArtifact(ctx context.Context) error {
	if w.artChecked {
		return nil
	}
	sum, err := HashFile(w.RB.Artifact.Abs)
	if err != nil {
		return WithHint(fmt.Errorf("artifact %s: %w", w.RB.Artifact.Path, err), "build it first (the build steps), or fix artifact.path")
	}
	if w.rel.ArtifactSHA256 != "" && w.rel.ArtifactSHA256 != sum {
		msg := fmt.Sprintf("artifact %s changed since this release first staged it (sha256 %s… then, %s… now)",
			w.RB.Artifact.Path, short(w.rel.ArtifactSHA256), short(sum))
		w.UI.Warn(msg)
		if w.Prompt == nil || w.Yes {
			return WithHint(fmt.Errorf("%w: %s", ErrNeedsHuman, msg), "restore the artifact that was staged, or decide in a terminal (runbook resume without --yes)")
		}
		choice, err := w.Prompt.Select("Stage the new artifact anyway? Hosts would run different builds.", []string{"Use the new artifact", ChPause}, ChPause)
		if err != nil {
			return err
		}
		if choice == ChPause {
			return w.pause(ctx)
		}
		w.note(ctx, "deviation", "", "", msg+"; the operator chose the new artifact")
	}
	if w.rel.ArtifactSHA256 != sum {
		w.rel.ArtifactSHA256 = sum
		if err := w.Store.RecordRelease(ctx, w.rel, nil); err != nil {
			return err
		}
	}
	w.artSHA, w.artChecked = sum, true
	return nil
}

// HashFile returns the hex SHA-256 of a file, streamed.
func HashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
