package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/report"
	"github.com/spf13/cobra"
)

type reportOptions struct {
	version string
	id      int64
	format  string
	output  string
}

// reportFormats are the renderers of `runbook report --format`.
var reportFormats = map[string]func(io.Writer, *report.Doc) error{
	"text": report.Text,
	"md":   report.Markdown,
	"html": report.HTML,
	"json": report.JSON,
}

func newReport(g *globals) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report [--release VERSION | --id N] [--format text|md|html|json] [-o FILE]",
		Short: "The post-release summary of the latest (or the named) release",
		Long: `Summarise a release, finished or not, from the state database alone: who
ran what and when, every step and host with attempts, exit codes, durations
and the last lines of output, sign-offs, deviations with their reasons,
diffs, probes, rollbacks and what is live now. Secrets stay masked.

html is one self-contained page with a timeline that prints well; json is
the shape documented in the README for scripts.`,
		Example: `  runbook report
  runbook report --release 2.4.0 --format html -o release-2.4.0.html
  runbook report --id 7 --format json | jq '.deviations'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd.Context(), g, o, cmd.Flags().Changed("id"))
		},
	}
	cmd.Flags().StringVar(&o.version, "release", "", "the latest release of this version (default: the latest release)")
	cmd.Flags().Int64Var(&o.id, "id", 0, "the release with this id (runbook history lists them)")
	cmd.Flags().StringVar(&o.format, "format", "", "text, md, html or json (default: from the extension of -o FILE, else text)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write the report to FILE (replaced atomically) instead of stdout")
	return cmd
}

func runReport(ctx context.Context, g *globals, o *reportOptions, byID bool) error {
	o.format = reportFormat(o.format, o.output)
	render, ok := reportFormats[o.format]
	if !ok {
		return usagef("report: unknown --format %q; use text, md, html or json", o.format)
	}
	p, err := g.openPicked(ctx, "report", o.version, o.id, byID)
	if err != nil {
		return err
	}
	defer p.st.Close()
	r := p.r
	in, err := reportInput(ctx, p.st, r, p.all)
	if err != nil {
		return fmt.Errorf("read the records of release %s (#%d): %w", r.Version, r.ID, err)
	}
	doc := report.Build(in)
	if o.output == "" {
		return render(g.stdout, doc)
	}
	var b bytes.Buffer
	if err := render(&b, doc); err != nil {
		return err
	}
	if err := writeFileAtomic(o.output, b.Bytes()); err != nil {
		return runbook.WithHint(fmt.Errorf("write the report: %w", err), "check that the directory exists and is writable, or leave out -o to print it")
	}
	fmt.Fprintf(g.stdout, "wrote the %s report of %s %s (#%d) to %s\n", o.format, r.Kind, r.Version, r.ID, o.output)
	return nil
}

// formatOfExtension maps the extension of -o FILE to its format, so that
// `report -o night.html` writes HTML, not text in a .html file.
var formatOfExtension = map[string]string{
	".html":     "html",
	".htm":      "html",
	".md":       "md",
	".markdown": "md",
	".json":     "json",
	".txt":      "text",
	".text":     "text",
}

// reportFormat is the format a report is written in: --format as given
// (in any case), else the one the extension of output names, else text.
func reportFormat(flag, output string) string {
	if flag != "" {
		return strings.ToLower(flag)
	}
	if f, ok := formatOfExtension[strings.ToLower(filepath.Ext(output))]; ok {
		return f
	}
	return "text"
}

// picked is the record opened read-only and the release that --release
// or --id named in it (the latest when neither did).
type picked struct {
	rb  *runbook.Runbook // nil when the runbook file is gone
	st  runbook.Store    // the caller closes it
	all []*runbook.Release
	r   *runbook.Release
}

// openPicked opens the record and picks the release for cmd (report,
// logs) by its flags.
func (g *globals) openPicked(ctx context.Context, cmd, version string, id int64, byID bool) (*picked, error) {
	if byID && version != "" {
		return nil, usagef("%s: --release and --id both name a release; give one of them", cmd)
	}
	rb, st, err := g.readStore()
	if err != nil {
		return nil, err
	}
	rels, err := st.Releases(ctx)
	if err == nil {
		var r *runbook.Release
		if r, err = pickRelease(rels, version, id, byID); err == nil {
			return &picked{rb: rb, st: st, all: rels, r: r}, nil
		}
	}
	st.Close()
	return nil, err
}

// pickRelease finds the release the flags name: by id, the latest of a
// version (a release rather than a rollback to that version), or the latest.
func pickRelease(rels []*runbook.Release, version string, id int64, byID bool) (*runbook.Release, error) {
	if len(rels) == 0 {
		return nil, runbook.WithHint(usagef("no release is recorded yet"), "`runbook start --version V` starts the first one")
	}
	history := "`runbook history` lists every release with its id and version"
	switch {
	case byID:
		for _, r := range rels {
			if r.ID == id {
				return r, nil
			}
		}
		return nil, runbook.WithHint(usagef("no release with id %d is recorded", id), history)
	case version != "":
		var found *runbook.Release
		for _, r := range rels {
			if r.Version == version && (found == nil || r.Kind == runbook.KindRelease || found.Kind != runbook.KindRelease) {
				found = r
			}
		}
		if found == nil {
			return nil, runbook.WithHint(usagef("no release of version %s is recorded (recorded: %s)", version, recentVersions(rels)), history)
		}
		return found, nil
	}
	return rels[len(rels)-1], nil
}

// recentVersions names the last few versions recorded, newest first, to
// spot a typo without running another command.
func recentVersions(rels []*runbook.Release) string {
	var vs []string
	for i := len(rels) - 1; i >= 0 && len(vs) < 5; i-- {
		if !slices.Contains(vs, rels[i].Version) {
			vs = append(vs, rels[i].Version)
		}
	}
	return strings.Join(vs, ", ")
}

// reportInput reads everything recorded about r, plus the `rollback --to`
// releases that followed it before the next release.
func reportInput(ctx context.Context, st runbook.Store, r *runbook.Release, rels []*runbook.Release) (report.Input, error) {
	in := report.Input{Release: r}
	var err error
	if in.Steps, err = st.Steps(ctx, r.ID); err != nil {
		return in, err
	}
	if in.Transitions, err = st.Transitions(ctx, r.ID); err != nil {
		return in, err
	}
	if in.Signoffs, err = st.Signoffs(ctx, r.ID); err != nil {
		return in, err
	}
	if in.Notes, err = st.Notes(ctx, r.ID); err != nil {
		return in, err
	}
	if in.Live, err = st.LiveVersions(ctx); err != nil {
		return in, err
	}
	if in.Staged, err = st.StagedVersions(ctx); err != nil {
		return in, err
	}
	for _, rb := range rollbacksAfter(r, rels) {
		x := report.Rollback{Release: rb}
		if x.Steps, err = st.Steps(ctx, rb.ID); err != nil {
			return in, err
		}
		if x.Transitions, err = st.Transitions(ctx, rb.ID); err != nil {
			return in, err
		}
		in.Rollbacks = append(in.Rollbacks, x)
	}
	return in, nil
}

// rollbacksAfter are the rollback releases between r and the next release:
// they switched back what r (or nothing newer) had put live.
func rollbacksAfter(r *runbook.Release, rels []*runbook.Release) []*runbook.Release {
	if r.Kind != runbook.KindRelease {
		return nil
	}
	var out []*runbook.Release
	for _, x := range rels {
		if x.ID <= r.ID {
			continue
		}
		if x.Kind != runbook.KindRollback {
			break
		}
		out = append(out, x)
	}
	return out
}

// writeFileAtomic replaces path with data: written to a temporary file in
// the same directory, synced, then renamed, so a reader (a browser, a CI
// artifact upload) never sees half a report.
//
// A report holds what hosts printed and who signed off, so it is private
// to the operator: created 0600, less when the umask says so (the kernel
// applies it to the temporary file), and never wider than a file it
// replaces — an operator who made the old report 0400 gets 0400 again.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if old, serr := os.Stat(path); serr == nil && old.Mode().IsRegular() {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if narrow := fi.Mode().Perm() & old.Mode().Perm(); narrow != fi.Mode().Perm() {
			if err = f.Chmod(narrow); err != nil {
				return err
			}
		}
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
