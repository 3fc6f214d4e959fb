package engine

import (
	"context"
)

// laterSum is the artifact's checksum of record while the copies of an
// upload are already under way (walk.ensureArtifact). The hash goes on in
// the background, beside the copies, which on a loopback fleet leave a
// core to spare; each host waits for the sum only to verify what it
// staged, before its rename. The one goroutine that finishes the hash
// also checks it against other releases and records it with the release,
// so every host that gets the sum gets it recorded.
type laterSum struct {
	done chan struct{}
	sum  string
	err  error
}

// hashLater hands the hash started ahead (or a new one) to a laterSum.
// Its goroutine writes the release's artifact columns; the walk reads or
// writes the release again only after laterSum.wait.
func (w *walk) hashLater(ctx context.Context) *laterSum {
	l := &laterSum{done: make(chan struct{})}
	ahead := w.e.takeAhead()
	if ahead == nil {
		ahead = startArtifactHash(w.rb.Artifact.Abs)
	}
	go func() {
		defer close(l.done)
		sum, size, err := w.hashArtifact(ctx, ahead)
		if err == nil {
			err = w.sameArtifact(ctx, sum, false)
		}
		if err == nil {
			err = w.keepSum(ctx, sum, size)
		}
		if err != nil {
			l.err = err
			return
		}
		l.sum = sum
	}()
	return l
}

// get is runbook.Call.ArtifactSHA256: it waits for the sum, recorded,
// or for ctx to end. Safe for every host run at once.
func (l *laterSum) get(ctx context.Context) (string, error) {
	select {
	case <-l.done:
		return l.sum, l.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// wait waits for the hash to end, whatever ctx does (its goroutine ends
// with ctx): the walk calls it once the host runs of the step have ended,
// before it touches the release again.
func (l *laterSum) wait() (string, error) {
	<-l.done
	return l.sum, l.err
}
