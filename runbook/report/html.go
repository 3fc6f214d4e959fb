package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"
)

var (
	//go:embed report.html.tmpl
	htmlSource string
	//go:embed report.css
	cssSource string

	// Parsed at the first report, not when the program starts: every
	// command would otherwise pay for it (about 1 ms here), and most
	// never render one.
	htmlTemplate = sync.OnceValue(func() *template.Template {
		return template.Must(template.New("report").Funcs(template.FuncMap{
			"label":           labelOf,
			"releaseLabel":    releaseLabel,
			"class":           classOf,
			"dur":             duration,
			"exit":            exitText,
			"dash":            func(s string) string { return dashIfEmpty(s) },
			"none":            orNone,
			"ended":           ended,
			"stepDuration":    stepDuration,
			"stepReason":      stepReason,
			"hostDuration":    hostDuration,
			"tail":            func(s string) string { return lastLines(s, tailLines) },
			"action":          func(h HostReport) string { return strings.TrimPrefix(actionText(h), "; ") },
			"where":           where,
			"differing":       differing,
			"join":            func(s []string) string { return strings.Join(s, ", ") },
			"probeTimes":      probeTimes,
			"rollbackTitle":   rollbackTitle,
			"rollbackWhen":    rollbackWhen,
			"liveSince":       liveSince,
			"removedText":     removedText,
			"who":             who,
			"transitionClass": transitionClass,
			"inc":             func(i int) int { return i + 1 },
			"add":             func(a, b int) int { return a + b },
		}).Parse(htmlSource))
	})
)

// htmlView is what the template sees: the report, its stylesheet and the
// geometry of its timeline.
type htmlView struct {
	*Doc
	CSS   template.CSS
	Chart chart
}

// HTML writes the report as one self-contained page: the stylesheet and
// the timeline (inline SVG) are inside it, nothing is fetched, and it
// prints cleanly. Every value goes through html/template's escaping.
func HTML(w io.Writer, d *Doc) error {
	v := htmlView{Doc: d, CSS: template.CSS(cssSource), Chart: newChart(d.Timeline)}
	if err := htmlTemplate().Execute(w, v); err != nil {
		return fmt.Errorf("render the html report: %w", err)
	}
	return nil
}

// transitionClass highlights the transitions that end somewhere a reader
// must look at.
func transitionClass(to string) string {
	if needsLook(to) && to != "running" && to != "undoing" {
		return classOf(to)
	}
	return ""
}
