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
	copies map[string]*remote.RelayCopy
}

// relaySource returns the connection to the relay of c's step and the copy
// there of the artifact that the host's copy is sent from:
// releases/<version>/<name> when the relay has that release staged with
// the checksum, else deploy_dir/.relay/<name>, staged by the first host
// run that asks (skipped when it is there with the checksum, resumed when
// partial). The host runs do not wait for it to be complete: their copies
// follow it as it lands on the relay (remote.RelayCopy). wait, when not
// nil, waits for the staging this host run started (its messages go to
// c.Out); call it before the host run ends. A failure is shared by the
// host runs that follow the copy and forgotten, so that the next attempt
// tries again.
func (e *Executor) relaySource(ctx context.Context, c *runbook.Call) (rconn remote.Conn, rc *remote.RelayCopy, wait func(), err error) {
	rh := e.RB.HostByName(c.Step.Relay.Host)
	if rh == nil {
		return nil, nil, nil, fmt.Errorf("relay %s is no host of the runbook", c.Step.Relay.Host)
	}
	rconn, err = e.conn(ctx, rh)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("relay %s: %w", rh.Name, err)
	}
	key := rh.Name + "\x00" + c.Release.Version + "\x00" + c.Data.Artifact.SHA256
	e.relays.mu.Lock()
	if e.relays.copies == nil {
		e.relays.copies = map[string]*remote.RelayCopy{}
	}
	rc, following := e.relays.copies[key]
	if !following {
		rc = remote.NewRelayCopy()
		e.relays.copies[key] = rc
	}
	e.relays.mu.Unlock()
	if following {
		return rconn, rc, nil, nil
	}
	staged := make(chan struct{})
	go func() {
		defer close(staged)
		from, err := e.stageOnRelay(ctx, rconn, rh, c, rc)
		if err != nil {
			e.relays.mu.Lock()
			delete(e.relays.copies, key)
			e.relays.mu.Unlock()
		}
		rc.Finish(from, err)
	}()
	return rconn, rc, func() { <-staged }, nil
}

// stageOnRelay puts the artifact on the relay host rh, once.
// rc is told when the upload starts, for the host runs to follow it.
func (e *Executor) stageOnRelay(ctx context.Context, rconn remote.Conn, rh *runbook.Host, c *runbook.Call, rc *remote.RelayCopy) (string, error) {
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
	rc.Staging(&spec)
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
	case res.Resumed > 0:
		fmt.Fprintf(c.Out, "staged %s (%s) on relay %s in %s, resumed after %s: sha256 %s verified there\n", p, runbook.Bytes(res.Written), rh.Name, short(res.Duration), runbook.Bytes(res.Resumed), sum)
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
	rconn, from, wait, err := e.relaySource(ctx, c)
	if err != nil {
		return remote.UploadResult{}, err
	}
	if wait != nil {
		defer wait()
	}
	return r.UploadVia(ctx, rconn, remote.RelaySpec{UploadSpec: spec, From: from, KeyFile: c.Step.Relay.KeyFile})
}
