package steps

import (
	"context"
	"fmt"
	"os"
	"path"
	"sync"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// relayDir is where, in the relay host's deploy_dir, the artifact waits
// for its copies: one slot, so a relay keeps at most the last artifact
// it relayed (which a resumed step finds there and reuses) and never
// fills up.
const relayDir = ".relay"

// relayCopies stages the artifact on a relay host once for all the
// host runs of a step that go through it, however many run at once.
type relayCopies struct {
	mu     sync.Mutex
	copies map[string]*relayCopy
}

// relayCopy is the artifact staged on one relay host, or being staged.
type relayCopy struct {
	done chan struct{} // closed once from or err is set
	from string        // its path on the relay host
	err  error
}

// relaySource returns the connection to the relay of c's step and the
// path there of a copy of the artifact verified against its checksum:
// releases/<version>/<name> when the relay has that release staged with
// the checksum, else deploy_dir/.relay/<name>, uploaded for the first host
// run that asks (skipped when it is there with the checksum, resumed when
// partial) while the others wait for it. A failure is shared by the host
// runs that waited and forgotten, so that the next attempt tries again.
func (e *Executor) relaySource(ctx context.Context, c *runbook.Call) (remote.Conn, string, error) {
	rh := e.RB.HostByName(c.Step.Relay.Host)
	if rh == nil {
		return nil, "", fmt.Errorf("relay %s is no host of the runbook", c.Step.Relay.Host)
	}
	rconn, err := e.conn(ctx, rh)
	if err != nil {
		return nil, "", fmt.Errorf("relay %s: %w", rh.Name, err)
	}
	key := rh.Name + "\x00" + c.Release.Version + "\x00" + c.Data.Artifact.SHA256
	e.relays.mu.Lock()
	if e.relays.copies == nil {
		e.relays.copies = map[string]*relayCopy{}
	}
	rc, waiting := e.relays.copies[key]
	if !waiting {
		rc = &relayCopy{done: make(chan struct{})}
		e.relays.copies[key] = rc
	}
	e.relays.mu.Unlock()
	if !waiting {
		rc.from, rc.err = e.stageOnRelay(ctx, rconn, rh, c)
		if rc.err != nil {
			e.relays.mu.Lock()
			delete(e.relays.copies, key)
			e.relays.mu.Unlock()
		}
		close(rc.done)
	}
	select {
	case <-rc.done:
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	if rc.err != nil {
		return nil, "", rc.err
	}
	return rconn, rc.from, nil
}

// stageOnRelay puts the artifact on the relay host rh, once.
func (e *Executor) stageOnRelay(ctx context.Context, rconn remote.Conn, rh *runbook.Host, c *runbook.Call) (string, error) {
	art := e.RB.Artifact
	sum := c.Data.Artifact.SHA256
	if err := checkVersion(c.Release.Version); err == nil {
		l := layout{conn: rconn, dir: rh.DeployDir, host: rh.Name}
		if got, err := l.stagedSHA256(ctx, c.Release.Version, art.Name); err == nil && got == sum {
			p := l.path(releasesDir, c.Release.Version, art.Name)
			fmt.Fprintf(c.Out, "relay %s has %s with sha256 %s already: sending it from there\n", rh.Name, p, sum)
			return p, nil
		}
	}
	spec := remote.UploadSpec{Local: art.Abs, SHA256: sum, Dir: path.Join(rh.DeployDir, relayDir), Name: art.Name}
	var bar Progress
	if e.Progress != nil {
		if fi, err := os.Stat(art.Abs); err == nil {
			bar = e.Progress(rh.Name+" (relay)", fi.Size())
			spec.Progress = bar.Update
		}
	}
	res, err := rconn.Upload(ctx, spec)
	if bar != nil {
		bar.Done(err)
	}
	if err != nil {
		return "", fmt.Errorf("stage %s on relay %s: %w", art.Name, rh.Name, err)
	}
	p := path.Join(spec.Dir, spec.Name)
	switch {
	case res.Skipped:
		fmt.Fprintf(c.Out, "relay %s has %s with sha256 %s already: sending it from there\n", rh.Name, p, sum)
	default:
		fmt.Fprintf(c.Out, "staged %s (%s) on relay %s in %s: sha256 %s verified there\n", p, runbook.Bytes(res.Written), rh.Name, short(res.Duration), sum)
	}
	return p, nil
}

// uploadVia stages spec on c.Host from a copy on the step's relay.
func (e *Executor) uploadVia(ctx context.Context, conn remote.Conn, c *runbook.Call, spec remote.UploadSpec) (remote.UploadResult, error) {
	r, ok := conn.(remote.Relayer)
	if !ok {
		return remote.UploadResult{}, fmt.Errorf("%s cannot receive from a relay: it is no SSH host", c.Host.Name)
	}
	rconn, from, err := e.relaySource(ctx, c)
	if err != nil {
		return remote.UploadResult{}, err
	}
	return r.UploadVia(ctx, rconn, remote.RelaySpec{UploadSpec: spec, From: from, KeyFile: c.Step.Relay.KeyFile})
}
