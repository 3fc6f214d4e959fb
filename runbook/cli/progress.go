package cli

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/runbook-dev/runbook/steps"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// uploadBars shows one progress bar per host while the artifact streams,
// with rate and ETA. Bars only make sense on a terminal; while they run,
// the printer's lines are held and printed after them (mpb's own
// print-above-the-bars drops lines written just before it shuts down).
type uploadBars struct {
	mu     sync.Mutex
	out    io.Writer
	pr     *printer
	p      *mpb.Progress
	held   bytes.Buffer
	active int
}

func newUploadBars(out io.Writer, pr *printer) *uploadBars {
	return &uploadBars{out: out, pr: pr}
}

// Start implements the steps.Executor Progress hook.
func (u *uploadBars) Start(host string, total int64) steps.Progress {
	if pr := u.pr.uploadProgress(host, total); pr != nil {
		return pr // a step on many hosts: its bytes add up on the board
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.p == nil {
		u.p = mpb.New(mpb.WithOutput(u.out), mpb.WithWidth(32), mpb.WithRefreshRate(150*time.Millisecond))
		u.pr.setOut(&u.held)
	}
	u.active++
	bar := u.p.AddBar(total,
		mpb.PrependDecorators(
			decor.Name("  "+host, decor.WCSyncSpaceR),
			decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace),
		),
		mpb.AppendDecorators(
			averageRate(time.Now()),
			decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO, decor.WCSyncSpace), "done"),
		),
	)
	return &hostBar{u: u, bar: bar, total: total}
}

// averageRate shows bytes per second since start. mpb's AverageSpeed only
// computes while the bar runs, so a bar that completes before it is first
// drawn (a fast host) would show no rate at all; this one computes its
// last value at completion and keeps it.
func averageRate(start time.Time) decor.Decorator {
	var final string
	return decor.Any(func(s decor.Statistics) string {
		if final != "" {
			return final
		}
		sec := time.Since(start).Seconds()
		if sec <= 0 {
			return ""
		}
		v := fmt.Sprintf("% .1f", decor.FmtAsSpeed(decor.SizeB1024(math.Round(float64(s.Current)/sec))))
		if s.Completed {
			final = v
		}
		return v
	}, decor.WCSyncSpace)
}

// finish ends the container once the last bar of a step is done.
func (u *uploadBars) finish() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.active--
	if u.active > 0 || u.p == nil {
		return
	}
	u.p.Wait()
	u.p = nil
	u.pr.setOut(u.out)
	_, _ = u.held.WriteTo(u.out)
}

type hostBar struct {
	u     *uploadBars
	bar   *mpb.Bar
	total int64
	once  sync.Once
}

func (b *hostBar) Update(done, _ int64) { b.bar.SetCurrent(done) }

func (b *hostBar) Done(err error) {
	b.once.Do(func() {
		if err != nil {
			b.bar.Abort(false)
		} else {
			b.bar.SetCurrent(b.total)
		}
		b.u.finish()
	})
}
