package cli

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps"
	"golang.org/x/term"
)

// compactAbove is how many hosts a step may have and still stream every
// host's output to the terminal. Above it, a terminal shows the step as a
// board instead: one live status line (the batch, hosts done, running and
// failed, the slowest host still running, the bytes of an upload) and a
// line per batch, and the whole output of each host that did not succeed.
// A hundred interleaved streams are not readable; what they said is in the
// log files (`runbook logs STEP --host H`) and the database's tail.
const compactAbove = 8

// heldMax bounds the output held back for one running host on a board:
// only the hosts running at once (parallel) hold any. A failing host that
// printed more shows its last heldMax bytes and where the rest is.
const heldMax = 256 << 10

// boardTick is how often the status line is drawn again while hosts run
// (the slowest host's time moves on by itself).
const boardTick = 250 * time.Millisecond

// board is the live summary of one step on many hosts. Its fields are
// guarded by the printer's mutex.
type board struct {
	step  *runbook.Step
	batch runbook.HostBatch
	// logged: each host's output of the step is in a log file that
	// `runbook logs` shows (a release's steps; not an op or exec).
	logged bool
	start  time.Time // of the step's first batch shown

	batchStart        time.Time
	batchOK, batchBad int // hosts of the current batch that ended
	done, failed      int // hosts of the step ended (done: from Batch's Done on)
	slowest           string
	slowestTook       time.Duration
	running           map[string]time.Time
	held              map[string]*heldOutput
	sent, size        map[string]int64 // upload bytes per host
	stop              chan struct{}
	stopped           sync.Once
}

// heldOutput is the output of one running host, kept until it ends: shown
// in full when it failed, dropped when it succeeded.
type heldOutput struct {
	buf     []byte
	dropped int // bytes cut from the front (heldMax)
}

func (h *heldOutput) Write(p []byte) (int, error) {
	h.buf = append(h.buf, p...)
	if over := len(h.buf) - heldMax; over > 0 {
		// Cut at a line end, so the kept part starts with a whole line.
		cut := over
		if i := bytes.IndexByte(h.buf[over:], '\n'); i >= 0 {
			cut = over + i + 1
		}
		h.dropped += cut
		h.buf = append(h.buf[:0], h.buf[cut:]...)
	}
	return len(p), nil
}

// summarising reports whether step s is shown as a board; called with
// p.mu held.
func (p *printer) summarising(s *runbook.Step) bool {
	return p.board != nil && p.board.step == s
}

// Batch implements runbook.UI.
func (p *printer) Batch(s *runbook.Step, b runbook.HostBatch) {
	if !p.live || b.Total <= compactAbove {
		if b.Count > 1 {
			p.println(nil, faint.Sprintf("  batch %d/%d: %s", b.Index, b.Count, strings.Join(b.Hosts, ", ")))
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	bd := p.board
	if bd != nil && bd.step != s {
		p.endBoardLocked()
		bd = nil
	}
	now := time.Now()
	if bd == nil {
		bd = &board{step: s, logged: !p.unlogged[s], start: now, running: map[string]time.Time{}, held: map[string]*heldOutput{},
			sent: map[string]int64{}, size: map[string]int64{}, stop: make(chan struct{})}
		p.board = bd
		go p.tick(bd)
	} else {
		p.batchLineLocked(bd)
	}
	bd.batch, bd.batchStart, bd.batchOK, bd.batchBad = b, now, 0, 0
	bd.done = max(bd.done, b.Done)
	p.drawLocked()
}

// tick draws the status line again until the board ends.
func (p *printer) tick(bd *board) {
	t := time.NewTicker(boardTick)
	defer t.Stop()
	for {
		select {
		case <-bd.stop:
			return
		case <-t.C:
			p.mu.Lock()
			if p.board == bd {
				p.drawLocked()
			}
			p.mu.Unlock()
		}
	}
}

// boardOutput is HostOutput on a board: the lines are held, not shown.
func (p *printer) boardOutput(host string) io.WriteCloser {
	bd := p.board
	bd.running[host] = time.Now()
	h := &heldOutput{}
	bd.held[host] = h
	p.drawLocked()
	return &lockedHeld{p: p, h: h}
}

// lockedHeld writes to a held output under the printer's lock (the
// board's maps and a host's stdout and stderr meet there).
type lockedHeld struct {
	p *printer
	h *heldOutput
}

func (w *lockedHeld) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.h.Write(b)
}

// Close keeps what was held: the host's end decides whether it is shown.
func (w *lockedHeld) Close() error { return nil }

// boardDone is HostDone on a board; called with p.mu held. A host that
// did not succeed is shown with its whole output.
func (p *printer) boardDone(s *runbook.Step, hr *runbook.HostRun, mark string) {
	bd := p.board
	delete(bd.running, hr.Host)
	held := bd.held[hr.Host]
	delete(bd.held, hr.Host)
	took := time.Duration(hr.DurationMS) * time.Millisecond
	switch hr.State {
	case runbook.RunSucceeded, runbook.RunSkipped, runbook.RunUndone:
		bd.done++
		bd.batchOK++
		if took >= bd.slowestTook {
			bd.slowest, bd.slowestTook = hr.Host, took
		}
		p.drawLocked()
		return
	}
	bd.failed++
	bd.batchBad++
	p.printlnLocked(nil, "  "+mark)
	p.showHeldLocked(bd, hr.Host, held)
	p.drawLocked()
}

// showHeldLocked prints what a host said on board bd, every line with
// its prefix.
func (p *printer) showHeldLocked(bd *board, host string, held *heldOutput) {
	if held == nil || len(held.buf) == 0 && held.dropped == 0 {
		return
	}
	c := p.hostColor(host)
	prefix := c.Sprintf("  %-*s │ ", p.width, host)
	switch {
	case held.dropped > 0 && bd.logged:
		p.printlnLocked(nil, prefix+faint.Sprintf("… %d bytes before these are in its log: runbook logs %s --host %s", held.dropped, bd.step.Name, host))
	case held.dropped > 0:
		p.printlnLocked(nil, prefix+faint.Sprintf("… %d bytes before these are not shown", held.dropped))
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(held.buf), "\n"), "\n") {
		p.printlnLocked(nil, prefix+oneLine(line))
	}
}

// batchLineLocked prints how the board's current batch went, once it has
// ended (a batch starts only after the one before it ended).
func (p *printer) batchLineLocked(bd *board) {
	b := bd.batch
	if b.Count < 2 {
		return
	}
	took := time.Since(bd.batchStart).Round(10 * time.Millisecond)
	n := len(b.Hosts)
	if bd.batchBad > 0 {
		p.printlnLocked(nil, red.Sprintf("  ✗ batch %d/%d: %d of %d hosts failed", b.Index, b.Count, bd.batchBad, n)+fmt.Sprintf(" in %s", took))
		return
	}
	p.printlnLocked(nil, green.Sprint("  ✓ ")+fmt.Sprintf("batch %d/%d: %d hosts in %s", b.Index, b.Count, n, took))
}

// endBoardLocked ends the board: the last batch's line, the output of
// hosts that never reported an end (interrupted), the step's line, and
// the status line off the screen.
func (p *printer) endBoardLocked() {
	bd := p.board
	if bd == nil {
		return
	}
	p.board = nil
	bd.stopped.Do(func() { close(bd.stop) })
	p.gate.setStatus(p.out, "")
	p.batchLineLocked(bd)
	hosts := make([]string, 0, len(bd.held))
	for h := range bd.held {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		p.printlnLocked(nil, yellow.Sprint("  • ")+p.hostColor(h).Sprint(h)+" did not finish; its output so far:")
		p.showHeldLocked(bd, h, bd.held[h])
	}
	took := time.Since(bd.start).Round(10 * time.Millisecond)
	line := fmt.Sprintf("%d of %d hosts done", bd.done, bd.batch.Total)
	if bd.failed > 0 {
		line += red.Sprintf(", %d failed", bd.failed)
	}
	line += fmt.Sprintf(" in %s", took)
	if bd.slowest != "" {
		line += faint.Sprintf(" · slowest %s %s", bd.slowest, bd.slowestTook.Round(time.Millisecond))
	}
	p.printlnLocked(nil, "  "+line)
	if bd.logged {
		p.printlnLocked(nil, faint.Sprintf("  every host's output: runbook logs %s --host HOST", bd.step.Name))
	}
}

// notLogged says that the output of s, an op or exec on many hosts, is
// not kept in log files: its board does not point at `runbook logs`.
func (p *printer) notLogged(s *runbook.Step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.unlogged == nil {
		p.unlogged = map[*runbook.Step]bool{}
	}
	p.unlogged[s] = true
}

// endBoard ends the board shown, if any: when a step or a job ends, or
// the command does.
func (p *printer) endBoard() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endBoardLocked()
}

// drawLocked draws the status line of the board.
func (p *printer) drawLocked() {
	bd := p.board
	if bd == nil {
		return
	}
	b := bd.batch
	var parts []string
	if b.Count > 1 {
		parts = append(parts, fmt.Sprintf("batch %d/%d", b.Index, b.Count))
	}
	parts = append(parts, fmt.Sprintf("%d/%d done", bd.done, b.Total), fmt.Sprintf("%d running", len(bd.running)))
	if bd.failed > 0 {
		parts = append(parts, red.Sprintf("%d failed", bd.failed))
	}
	var slow string
	var since time.Time
	for h, t := range bd.running {
		if slow == "" || t.Before(since) || t.Equal(since) && h < slow {
			slow, since = h, t
		}
	}
	if slow != "" {
		parts = append(parts, fmt.Sprintf("slowest %s %s", slow, time.Since(since).Round(100*time.Millisecond)))
	}
	if len(bd.size) > 0 {
		var sent, size int64
		for h, n := range bd.size {
			size += n
			sent += bd.sent[h]
		}
		parts = append(parts, fmt.Sprintf("%s/%s sent", runbook.Bytes(sent), runbook.Bytes(size)))
	}
	line := "  " + strings.Join(parts, " · ")
	if w := p.termWidth(); visibleLen(line) >= w {
		// A status line that wraps cannot be erased in place.
		line = "  " + strings.Join(parts[:min(len(parts), 3)], " · ")
	}
	p.gate.setStatus(p.out, bold.Sprint(line))
}

// termWidth is the terminal's width, 80 when it cannot be read.
func (p *printer) termWidth() int {
	if f, ok := p.out.(interface{ Fd() uintptr }); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return 80
}

// visibleLen counts what a line shows, colour sequences left out.
func visibleLen(s string) int {
	n, esc := 0, false
	for _, r := range s {
		switch {
		case esc:
			esc = r != 'm'
		case r == '\x1b':
			esc = true
		default:
			n++
		}
	}
	return n
}

// boardUpload follows one host's upload on the board: its bytes add up in
// the status line instead of a progress bar per host.
type boardUpload struct {
	p    *printer
	bd   *board
	host string
}

// uploadProgress returns the board's progress of an upload to host, or
// nil when no board is shown (the bars are, then).
func (p *printer) uploadProgress(host string, total int64) steps.Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.board == nil {
		return nil
	}
	p.board.size[host] = total
	return &boardUpload{p: p, bd: p.board, host: host}
}

func (u *boardUpload) Update(done, _ int64) {
	u.p.mu.Lock()
	u.bd.sent[u.host] = done
	u.p.mu.Unlock()
}

func (u *boardUpload) Done(err error) {
	if err == nil {
		u.p.mu.Lock()
		u.bd.sent[u.host] = u.bd.size[u.host]
		u.p.mu.Unlock()
	}
}
