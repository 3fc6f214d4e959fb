package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// diffKind is `diff: [A, B]`: the engine compares the consistency facts of
// two environments (collected by Executor.Diff below); it changes nothing.
type diffKind struct{ noHostAction }

// Describe implements Kind.
func (diffKind) Describe(_ *runbook.Runbook, s *runbook.Step, _ string) string {
	return "compare environments " + strings.Join(s.Diff, " and ")
}

// Changes implements Kind.
func (diffKind) Changes(*runbook.Runbook, *runbook.Step) runbook.Change {
	return runbook.ChangesNothing
}

// diffParallel bounds how many hosts are asked for their facts at once.
const diffParallel = 8

// factTimeout bounds one consistency command: a fact that hangs is a
// difference to look at, not a reason to hang the release.
const factTimeout = time.Minute

var _ runbook.Differ = (*Executor)(nil)

// fact is one consistency fact as written in the runbook.
type fact struct {
	kind string // "file" or "command"
	tmpl string // identifies the fact across hosts
}

// observation is one fact as found on one host.
type observation struct {
	value string
	err   string
}

// Diff implements runbook.Differ.
func (e *Executor) Diff(ctx context.Context, envA, envB string, out io.Writer) (*runbook.DiffReport, error) {
	if envA == envB {
		return nil, fmt.Errorf("compare %s with itself: name two different environments", envA)
	}
	var hosts []*runbook.Host
	for _, name := range []string{envA, envB} {
		env := e.RB.Envs[name]
		if env == nil {
			return nil, fmt.Errorf("environment %q is not in the runbook: it is one of %s", name, strings.Join(e.RB.EnvOrder, ", "))
		}
		hosts = append(hosts, env.Hosts...)
	}
	ignore, err := compileIgnore(e.RB.Consistency.Ignore)
	if err != nil {
		return nil, err
	}
	facts := consistencyFacts(e.RB.Consistency)

	found := make([][]observation, len(hosts))
	errs := make([]error, len(hosts))
	var (
		wg    sync.WaitGroup
		outMu sync.Mutex
		sem   = make(chan struct{}, diffParallel)
	)
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			found[i], errs[i] = e.collect(ctx, h, facts, ignore)
			if out != nil && errs[i] == nil {
				outMu.Lock()
				fmt.Fprintf(out, "collected %d fact(s) from %s\n", len(facts), hostLabel(h))
				outMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	rep := &runbook.DiffReport{EnvA: envA, EnvB: envB, Facts: []runbook.FactDiff{}}
	for fi, f := range facts {
		column := make([]observation, len(hosts))
		for hi := range hosts {
			column[hi] = found[hi][fi]
		}
		fd := compareFact(f, hosts, column)
		rep.Differs = rep.Differs || !fd.Agree
		rep.Facts = append(rep.Facts, fd)
	}
	return rep, nil
}

func hostLabel(h *runbook.Host) string { return h.Env.Name + "/" + h.Name }

func consistencyFacts(c runbook.Consistency) []fact {
	var facts []fact
	for _, f := range c.Files {
		facts = append(facts, fact{"file", f})
	}
	for _, cmd := range c.Commands {
		facts = append(facts, fact{"command", cmd})
	}
	return facts
}

func compileIgnore(patterns []string) ([]*regexp.Regexp, error) {
	res := make([]*regexp.Regexp, 0, len(patterns))
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("consistency ignore pattern %q: %w: fix it and run `runbook validate`", p, err)
		}
		res = append(res, re)
	}
	return res, nil
}

// collect reads every fact on one host. Only a host that cannot be reached
// (or a template that cannot be rendered) is an error; a missing file or a
// failing command is an observation like any other.
func (e *Executor) collect(ctx context.Context, h *runbook.Host, facts []fact, ignore []*regexp.Regexp) ([]observation, error) {
	if len(facts) == 0 {
		return nil, nil
	}
	conn, err := e.conn(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("collect facts from %s: %w", hostLabel(h), err)
	}
	data := runbook.TemplateData{
		Host: runbook.TemplateHost{Name: h.Name, Address: h.Address, DeployDir: h.DeployDir},
		Env:  runbook.TemplateEnv{Name: h.Env.Name, DeployDir: h.Env.DeployDir},
	}
	obs := make([]observation, len(facts))
	for i, f := range facts {
		text, err := runbook.Render(f.tmpl, data, e.Secret)
		if err != nil {
			return nil, fmt.Errorf("consistency %s %q for %s: %w", f.kind, f.tmpl, hostLabel(h), err)
		}
		if f.kind == "file" {
			obs[i] = readFact(ctx, conn, h, text, ignore)
		} else {
			obs[i] = commandFact(ctx, conn, h, text, ignore)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return obs, nil
}

func readFact(ctx context.Context, conn remote.Conn, h *runbook.Host, path string, ignore []*regexp.Regexp) observation {
	// A local host's relative paths mean what they mean to its commands.
	if h.Local && !filepath.IsAbs(path) && h.Workdir != "" {
		path = filepath.Join(h.Workdir, path)
	}
	b, err := conn.ReadFile(ctx, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Host-neutral wording, so hosts lacking the file group together.
		return observation{err: "file missing"}
	case errors.Is(err, fs.ErrPermission):
		return observation{err: "permission denied"}
	case err != nil:
		return observation{err: err.Error()}
	}
	return observation{value: normalise(string(b), ignore)}
}

func commandFact(ctx context.Context, conn remote.Conn, h *runbook.Host, script string, ignore []*regexp.Regexp) observation {
	// Separate buffers: the transport writes stdout and stderr from
	// different goroutines, and a fixed order keeps equal outputs equal.
	var stdout, stderr bytes.Buffer
	code, err := conn.Exec(ctx, remote.ExecSpec{Script: script, Dir: h.Workdir, Stdout: &stdout, Stderr: &stderr, Timeout: factTimeout})
	if err != nil {
		return observation{err: err.Error()}
	}
	value := normalise(stdout.String()+stderr.String(), ignore)
	if code != 0 {
		msg := fmt.Sprintf("exit status %d", code)
		if value != "" {
			msg += ": " + firstLine(value)
		}
		return observation{err: msg}
	}
	return observation{value: value}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// normalise drops the lines matching an ignore pattern and trims the
// whitespace around every other line, so indentation and trailing blanks
// never count as differences. Blank lines stay unless a pattern drops them.
func normalise(s string, ignore []*regexp.Regexp) string {
	s = strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	if s == "" {
		return ""
	}
	var kept []string
	for _, line := range strings.Split(s, "\n") {
		if matchesAny(line, ignore) {
			continue
		}
		kept = append(kept, strings.TrimSpace(line))
	}
	return strings.Join(kept, "\n")
}

func matchesAny(line string, res []*regexp.Regexp) bool {
	for _, re := range res {
		if re.MatchString(line) {
			return true
		}
	}
	return false
}

// compareFact groups the hosts by what they have, in host order, and diffs
// the first two variants when both are contents.
func compareFact(f fact, hosts []*runbook.Host, column []observation) runbook.FactDiff {
	fd := runbook.FactDiff{Kind: f.kind, Fact: f.tmpl}
	index := map[observation]int{}
	for i, o := range column {
		v, ok := index[o]
		if !ok {
			v = len(fd.Variants)
			index[o] = v
			fd.Variants = append(fd.Variants, runbook.FactVariant{Value: o.value, Error: o.err})
		}
		fd.Variants[v].Hosts = append(fd.Variants[v].Hosts, hostLabel(hosts[i]))
	}
	fd.Agree = len(fd.Variants) <= 1
	if len(fd.Variants) >= 2 {
		a, b := fd.Variants[0], fd.Variants[1]
		if a.Error == "" && b.Error == "" {
			fd.Unified = unifiedDiff(variantName(a), variantName(b), splitLines(a.Value), splitLines(b.Value))
		}
	}
	return fd
}

// variantName labels a side of the unified diff by its first host, and
// says how many more share it.
func variantName(v runbook.FactVariant) string {
	if len(v.Hosts) == 1 {
		return v.Hosts[0]
	}
	return fmt.Sprintf("%s (and %d more)", v.Hosts[0], len(v.Hosts)-1)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
