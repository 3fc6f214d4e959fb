package engine

import (
	"context"
	"os"

	"github.com/runbook-dev/runbook/runbook"
)

// The artifact is hashed before the first upload of a walk
// (ensureArtifact): for an EAR of hundreds of MiB that is a fraction of a
// second in which no byte goes out. So the hash starts as the release
// begins, beside the preflight, which connects to every host, unless a
// step before the first upload runs on the operator's machine (a build
// would change the file). Its sum is used only if the file is, when the
// upload needs it, the very one that was read: same identity, size and
// modification time as before and after the read. Otherwise the file is
// hashed again, as it was before.

// artifactHash is a hash of the artifact under way.
type artifactHash struct {
	path string
	done chan struct{}
	sum  string
	size int64       // bytes hashed
	fi   os.FileInfo // the file before and after it was read, when ok
	ok   bool
}

// hashAhead starts hashing the artifact when the steps (the ones the
// walk will run, in order) upload it and none before that upload runs on
// the operator's machine; nil otherwise.
func (e *Engine) hashAhead(steps []*runbook.Step) *artifactHash {
	if e.rb.Artifact.Abs == "" {
		return nil
	}
	for _, s := range steps {
		if s.Kind == runbook.KindUpload {
			return startArtifactHash(e.rb.Artifact.Abs)
		}
		if env := e.rb.Envs[s.On]; env != nil && env.Local {
			return nil // a build, or anything else that may touch the file
		}
	}
	return nil
}

// takeAhead hands over the hash started ahead, once; nil when there is
// none (artifactHash.result then says to hash the file).
func (e *Engine) takeAhead() *artifactHash {
	h := e.ahead
	e.ahead = nil
	return h
}

// stepsFrom are the steps of rb from the one named from on (all of them
// for "").
func stepsFrom(rb *runbook.Runbook, from string) []*runbook.Step {
	for i, s := range rb.Steps {
		if s.Name == from {
			return rb.Steps[i:]
		}
	}
	return rb.Steps
}

func startArtifactHash(path string) *artifactHash {
	h := &artifactHash{path: path, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		before, err := os.Stat(path)
		if err != nil {
			return
		}
		sum, size, err := runbook.HashFile(path)
		if err != nil {
			return
		}
		after, err := os.Stat(path)
		if err != nil || !sameFile(before, after) {
			return // changed while it was read
		}
		h.sum, h.size, h.fi, h.ok = sum, size, after, true
	}()
	return h
}

// result waits for the hash and returns it with the bytes it hashed when
// the file is still the one it read; false means hash it again (also for
// a nil h: none was started).
func (h *artifactHash) result(ctx context.Context) (string, int64, bool) {
	if h == nil {
		return "", 0, false
	}
	select {
	case <-h.done:
	case <-ctx.Done():
		return "", 0, false
	}
	if !h.ok {
		return "", 0, false
	}
	fi, err := os.Stat(h.path)
	if err != nil || !sameFile(h.fi, fi) {
		return "", 0, false
	}
	return h.sum, h.size, true
}

// sameFile reports whether a and b describe the same file with the same
// content as far as its metadata tells: same inode, size and
// modification time (any write moves it).
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
