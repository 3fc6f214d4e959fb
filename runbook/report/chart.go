package report

import (
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// chart is the geometry of the timeline's inline SVG: one row per host of
// each step, one bar per attempt, on a shared time axis. The template
// only places what is computed here.
type chart struct {
	Width, Height int
	AxisY         int // baseline of the tick labels
	PlotX, PlotW  float64
	Caption       string
	Rows          []chartRow
	Ticks         []chartTick
}

type chartRow struct {
	Y          int    // top of the row
	TextY      int    // baseline of its labels
	Step       string // set on the first row of a step only
	Host       string
	Band       bool // every other step gets a background band
	BandHeight int  // rows of the band, times the row height
	Bars       []chartBar
}

type chartBar struct {
	X, W    float64
	Y, H    int
	Class   string
	Pattern string  // overlay that tells the class apart without colour
	Label   string  // shown beside bars that need a look
	LabelX  float64 // where Label starts
	Title   string  // tooltip
}

type chartTick struct {
	X     float64
	Label string
}

const (
	chartWidth = 1000
	labelWidth = 250 // step and host names
	rightRoom  = 90  // labels right of the last bars
	rowHeight  = 20
	barHeight  = 12
	axisHeight = 26
	minBarW    = 3
	maxNameLen = 26
)

func newChart(tl Timeline) chart {
	c := chart{Width: chartWidth, AxisY: 16, PlotX: labelWidth, PlotW: chartWidth - labelWidth - rightRoom}
	span := tl.End.Sub(tl.Start)
	if span <= 0 {
		span = 10 * time.Millisecond
	}
	x := func(t time.Time) float64 {
		return round1(c.PlotX + float64(t.Sub(tl.Start))/float64(span)*c.PlotW)
	}
	c.Ticks, c.Caption = ticks(tl.Start, span, x)
	band := true
	for i, r := range tl.Rows {
		row := chartRow{Y: axisHeight + i*rowHeight, Host: truncate(r.Host)}
		row.TextY = row.Y + rowHeight/2 + 4
		if i == 0 || tl.Rows[i-1].Step != r.Step {
			row.Step = truncate(r.Step)
			band = !band
			row.Band = band
			n := 1
			for n+i < len(tl.Rows) && tl.Rows[i+n].Step == r.Step {
				n++
			}
			row.BandHeight = n * rowHeight
		}
		for _, s := range r.Segments {
			row.Bars = append(row.Bars, newBar(r, s, row.Y, x))
		}
		placeLabels(row.Bars, c.PlotX, float64(c.Width))
		c.Rows = append(c.Rows, row)
	}
	c.Height = axisHeight + len(tl.Rows)*rowHeight + 8
	return c
}

func newBar(r TimelineRow, s Segment, y int, x func(time.Time) float64) chartBar {
	b := chartBar{X: x(s.Start), Y: y + (rowHeight-barHeight)/2, H: barHeight, Class: classOf(s.State)}
	b.W = round1(max(x(s.End)-b.X, minBarW))
	label := labelOf(s.State)
	if s.Stopped {
		// The operator's Ctrl-C, not a run whose end nobody saw.
		b.Class, label = classStopped, "STOPPED"
	}
	b.Pattern = patterns[b.Class]
	if needsLook(s.State) {
		b.Label = label
	}
	if s.Undo {
		label += " (undo)"
	}
	b.Title = fmt.Sprintf("%s: %s, %s – %s (%s)", where(r.Step, r.Host), label,
		s.Start.UTC().Format("15:04:05"), s.End.UTC().Format("15:04:05"), duration(s.End.Sub(s.Start).Milliseconds()))
	return b
}

// labelCharW is the width of a character of a bar's label, bold 10px
// capitals: DejaVu Sans Bold's average 6.6, rounded up. A label is placed
// only where this much room is free, so an estimate too small would let
// labels run into bars.
const labelCharW = 6.8

// labelW is the width a label takes.
func labelW(s string) float64 { return float64(utf8.RuneCountInString(s)) * labelCharW }

// placeLabels puts the label of each bar of one row where it overlaps no
// other bar and no other label: right of its bar when the room before the
// next bar (or the chart's edge) takes it, else left of it when the room
// after the previous bar or label does, else nowhere — the bar's pattern,
// its tooltip and the attention list still say what it was. Bars are in
// time order.
func placeLabels(bars []chartBar, left, right float64) {
	taken := left // the right end of what is drawn so far on the row
	for i := range bars {
		b := &bars[i]
		limit := right
		if i+1 < len(bars) {
			limit = bars[i+1].X - 1
		}
		if b.Label == "" {
			taken = max(taken, b.X+b.W)
			continue
		}
		w := labelW(b.Label)
		switch {
		case b.X+b.W+3+w <= limit:
			b.LabelX = round1(b.X + b.W + 3)
		case b.X-3-w >= taken:
			b.LabelX = round1(b.X - 3 - w)
		default:
			b.Label = ""
		}
		taken = max(taken, b.X+b.W)
		if b.Label != "" {
			taken = max(taken, b.LabelX+w)
		}
	}
}

// patterns are the SVG fills laid over the bars that need a look.
var patterns = map[string]string{classFailed: "tl-hatch", classDoubt: "tl-dots", classSkipped: "tl-stripes", classStopped: "tl-ticks"}

// round1 keeps coordinates short in the SVG.
func round1(f float64) float64 { return math.Round(f*10) / 10 }

// tickSteps are the axis intervals a reader can add up in their head.
var tickSteps = []time.Duration{
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// ticks places at most about 8 labelled ticks on round times (UTC).
func ticks(start time.Time, span time.Duration, x func(time.Time) float64) ([]chartTick, string) {
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	layout, caption := "15:04:05", "UTC, "+start.UTC().Format("2006-01-02")
	if step < time.Second {
		layout = "15:04:05.000"
	}
	if span > 20*time.Hour {
		layout, caption = "01-02 15:04", "UTC"
	}
	var out []chartTick
	for t := start.UTC().Truncate(step); !t.After(start.Add(span)); t = t.Add(step) {
		if t.Before(start) {
			continue
		}
		out = append(out, chartTick{X: x(t), Label: t.Format(layout)})
	}
	return out, caption
}

func truncate(s string) string {
	r := []rune(s)
	if len(r) <= maxNameLen {
		return s
	}
	return string(r[:maxNameLen-1]) + "…"
}
