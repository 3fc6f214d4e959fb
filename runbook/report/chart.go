package report

import (
	"fmt"
	"math"
	"time"
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
		c.Rows = append(c.Rows, row)
	}
	c.Height = axisHeight + len(tl.Rows)*rowHeight + 8
	return c
}

func newBar(r TimelineRow, s Segment, y int, x func(time.Time) float64) chartBar {
	b := chartBar{X: x(s.Start), Y: y + (rowHeight-barHeight)/2, H: barHeight, Class: classOf(s.State)}
	b.W = round1(max(x(s.End)-b.X, minBarW))
	b.Pattern = patterns[b.Class]
	label := labelOf(s.State)
	if needsLook(s.State) {
		b.Label = label
	}
	if s.Undo {
		label += " (undo)"
	}
	b.LabelX = round1(b.X + b.W + 4)
	b.Title = fmt.Sprintf("%s: %s, %s – %s (%s)", where(r.Step, r.Host), label,
		s.Start.UTC().Format("15:04:05"), s.End.UTC().Format("15:04:05"), duration(s.End.Sub(s.Start).Milliseconds()))
	return b
}

// patterns are the SVG fills laid over the bars that need a look.
var patterns = map[string]string{classFailed: "tl-hatch", classDoubt: "tl-dots", classSkipped: "tl-stripes"}

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
