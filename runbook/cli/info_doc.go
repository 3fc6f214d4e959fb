package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// handbookDoc is where the handbook is written: the same content as text
// for the terminal or as Markdown for a wiki page.
type handbookDoc interface {
	title(s string)
	section(s string)
	subsection(s string)
	field(label, value string)
	table(head []string, rows [][]string)
	text(s string) // free text, kept as written
	code(s string) // a query or a command block
}

func newHandbookDoc(format string, w io.Writer) (handbookDoc, error) {
	switch format {
	case "text", "":
		return &textDoc{w: w}, nil
	case "md", "markdown":
		return &mdDoc{w: w}, nil
	}
	return nil, usagef("--format %q: want text or md", format)
}

// textDoc writes for the terminal: sections in bold capitals, content
// indented under them, tables aligned.
type textDoc struct {
	w      io.Writer
	indent string
}

func (d *textDoc) title(s string) { fmt.Fprintln(d.w, bold.Sprint(s)) }

func (d *textDoc) section(s string) {
	fmt.Fprintf(d.w, "\n%s\n", bold.Sprint(strings.ToUpper(s)))
	d.indent = "  "
}

func (d *textDoc) subsection(s string) {
	fmt.Fprintf(d.w, "\n  %s\n", bold.Sprint(s))
	d.indent = "    "
}

func (d *textDoc) field(label, value string) {
	if label == "" {
		fmt.Fprintf(d.w, "%s%s\n", d.indent, value)
		return
	}
	fmt.Fprintf(d.w, "%s%s %s\n", d.indent, faint.Sprint(label+":"), value)
}

func (d *textDoc) table(head []string, rows [][]string) {
	tw := tabwriter.NewWriter(d.w, 0, 0, 2, ' ', 0)
	upper := make([]string, len(head))
	for i, h := range head {
		upper[i] = strings.ToUpper(h)
	}
	fmt.Fprintf(tw, "%s%s\n", d.indent, strings.Join(upper, "\t"))
	for _, r := range rows {
		fmt.Fprintf(tw, "%s%s\n", d.indent, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func (d *textDoc) text(s string) {
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(d.w, "%s%s\n", d.indent, line)
	}
}

func (d *textDoc) code(s string) {
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(d.w, "%s  %s\n", d.indent, line)
	}
}

// mdDoc writes Markdown (GitHub flavour, for a wiki or a ticket). Every
// block ends with a blank line; a run of fields is one list.
type mdDoc struct {
	w      io.Writer
	inList bool
}

// block ends a list of fields before another kind of block starts.
func (d *mdDoc) block() {
	if d.inList {
		fmt.Fprintln(d.w)
		d.inList = false
	}
}

func (d *mdDoc) title(s string)      { d.block(); fmt.Fprintf(d.w, "# %s\n\n", s) }
func (d *mdDoc) section(s string)    { d.block(); fmt.Fprintf(d.w, "## %s\n\n", s) }
func (d *mdDoc) subsection(s string) { d.block(); fmt.Fprintf(d.w, "### %s\n\n", s) }

func (d *mdDoc) field(label, value string) {
	if label == "" {
		d.text(value)
		return
	}
	fmt.Fprintf(d.w, "- **%s:** %s\n", label, value)
	d.inList = true
}

func (d *mdDoc) table(head []string, rows [][]string) {
	d.block()
	fmt.Fprintf(d.w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = mdCell(c)
		}
		fmt.Fprintf(d.w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(d.w)
}

// mdCell keeps a cell on its row: pipes escaped, line breaks as <br>.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "<br>")
}

func (d *mdDoc) text(s string) {
	d.block()
	fmt.Fprintf(d.w, "%s\n\n", strings.TrimRight(s, "\n"))
}

func (d *mdDoc) code(s string) {
	d.block()
	fence := "```"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	fmt.Fprintf(d.w, "%s\n%s\n%s\n\n", fence, strings.TrimRight(s, "\n"), fence)
}
