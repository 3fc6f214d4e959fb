package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/remote"
)

// preflight finds, before a release's first step and changing nothing,
// what would stop the night at a step: a host that cannot be reached or
// whose key is unknown, refused credentials, a secret missing from the
// vault, a deploy directory that cannot take the release or has no room
// for it, an artifact nobody builds, a sign-off role nobody asks for or
// one --yes cannot give. `runbook check` runs it; start runs it before a
// release's first step (engine.Config.Preflight). It reaches hosts
// through exec, the executor (and connection pool) the release then uses.
type preflight struct {
	rb       *runbook.Runbook
	exec     *steps.Executor
	secrets  *secrets.Resolver
	version  string            // "" when not known (check without --version)
	from     string            // --from: the steps before it do not run
	envs     []string          // the environments whose hosts are checked; nil: those the steps run on
	signoffs map[string]string // --signoff ROLE=NAME
	asks     bool              // a human answers the prompts (a terminal, no --yes)
}

// checkLine is one line of the preflight's report: what was checked, and
// what was found.
type checkLine struct {
	ok   bool
	what string
	text string
}

// problem is one thing that would stop the release. Its error decides
// the exit code (exitCode), and its hints say what to do.
type problem struct {
	err error
}

// problemsError is every problem a preflight found, reported at once.
type problemsError struct {
	problems []problem
	start    bool // found by start before its first step, rather than by check
}

func (e *problemsError) Error() string {
	if len(e.problems) == 1 {
		return problemText(e.problems[0].err)
	}
	return fmt.Sprintf("%d problems would stop the release", len(e.problems))
}

// exitOrder is the order in which the problems' classes decide the exit
// code when there are several: a mistyped command line first (2), then
// the vault (5), then what is broken (1); 3, a decision nobody could
// make here, only when nothing else stands in the way, so that a script
// reads exit 3 as "ready, but a person must answer".
var exitOrder = []int{ExitUsage, ExitVault, ExitFailed, ExitNeedsHuman}

// exitCode is the exit code of the problems, as exitOrder ranks them.
func (e *problemsError) exitCode() int {
	codes := map[int]bool{}
	for _, p := range e.problems {
		codes[exitCode(p.err)] = true
	}
	for _, c := range exitOrder {
		if codes[c] {
			return c
		}
	}
	return ExitFailed
}

// problemText is a problem's message without the words of the sentinel
// that classifies it ("a human decision is needed: ", "usage: "): the
// problem list says what each one needs.
func problemText(err error) string {
	var hk *remote.HostKeyError
	if errors.As(err, &hk) {
		return hk.Error()
	}
	msg := err.Error()
	for _, s := range []error{runbook.ErrNeedsHuman, runbook.ErrUsage} {
		msg = strings.TrimPrefix(msg, s.Error()+": ")
	}
	return msg
}

// run checks everything and returns the report, and the problems found.
func (p *preflight) run(ctx context.Context) ([]checkLine, []problem) {
	var lines []checkLine
	var problems []problem
	add := func(l checkLine, ps ...error) {
		lines = append(lines, l)
		for _, err := range ps {
			problems = append(problems, problem{err: err})
		}
	}
	todo := p.steps()
	if l, ps := p.checkSignoffs(todo); l.what != "" {
		add(l, ps...)
	}
	missing := map[string]bool{}
	if l, ps := p.checkSecrets(missing); l.what != "" {
		add(l, ps...)
	}
	size := int64(0)
	if l, n, ps := p.checkArtifact(todo); l.what != "" {
		size = n
		add(l, ps...)
	}
	for _, hr := range p.checkHosts(ctx, todo, size, missing) {
		add(hr.line, hr.problems...)
	}
	return lines, problems
}

// steps are the steps the release will run: all of them, or those from
// --from on.
func (p *preflight) steps() []*runbook.Step {
	for i, s := range p.rb.Steps {
		if s.Name == p.from {
			return p.rb.Steps[i:]
		}
	}
	return p.rb.Steps
}

// inScope reports whether the hosts of env are checked.
func (p *preflight) inScope(env string, todo []*runbook.Step) bool {
	if p.envs != nil {
		return slices.Contains(p.envs, env)
	}
	for _, s := range todo {
		if s.On == env || (s.Kind == runbook.KindDiff && slices.Contains(s.Diff, env)) {
			return true
		}
	}
	return false
}

// checkSignoffs checks --signoff against the confirm steps: every role
// given must be one a confirm step asks for — a typo would otherwise go
// unnoticed until that step stops the night, after the prerelease was
// switched. A sign-off not given yet is no problem: QA signs off the
// prerelease the release stages first; when nobody can be asked, the
// line says where the release will stop for it.
func (p *preflight) checkSignoffs(todo []*runbook.Step) (checkLine, []error) {
	var all []string
	for _, s := range p.rb.Steps {
		for _, r := range s.Signoff {
			if !slices.Contains(all, r) {
				all = append(all, r)
			}
		}
	}
	given := make([]string, 0, len(p.signoffs))
	for r := range p.signoffs {
		given = append(given, r)
	}
	sort.Strings(given)
	var errs []error
	var unknown []string
	for _, r := range given {
		if slices.Contains(all, r) {
			continue
		}
		unknown = append(unknown, r)
		err := usagef("--signoff %s: no confirm step of %s asks for a %s sign-off", r, p.rb.Name, r)
		hint := "no confirm step asks for a sign-off: leave out --signoff"
		if len(all) > 0 {
			hint = "the roles are " + strings.Join(all, ", ")
			if s := runbook.Suggest(r, all); s != "" {
				hint = fmt.Sprintf("did you mean --signoff %s=…? (the roles are %s)", s, strings.Join(all, ", "))
			}
		}
		errs = append(errs, runbook.WithHint(err, hint))
	}
	var needed []string
	waits := ""
	for _, s := range todo {
		if s.Kind != runbook.KindConfirm {
			continue
		}
		var missing []string
		for _, r := range s.Signoff {
			needed = append(needed, r)
			if !p.asks && strings.TrimSpace(p.signoffs[r]) == "" {
				missing = append(missing, r)
			}
		}
		if waits == "" && len(missing) > 0 {
			waits = fmt.Sprintf("; %s not given: the release stops at %s for them (exit 3) until resumed with --signoff", strings.Join(missing, ", "), s.Name)
		}
	}
	if len(needed) == 0 && len(given) == 0 {
		return checkLine{}, nil
	}
	var text string
	switch {
	case len(unknown) > 0:
		text = "asked for by no step: " + strings.Join(unknown, ", ")
	case len(needed) == 0:
		text = "no step that will run asks for one"
	case p.asks:
		text = strings.Join(needed, ", ") + ": asked at the prompt"
	default:
		text = strings.Join(needed, ", ") + waits
		if waits == "" {
			text += ": given with --signoff"
		}
	}
	return checkLine{ok: len(errs) == 0, what: "sign-offs", text: text}, errs
}

// checkSecrets resolves every secret the runbook names, and lists each
// one the vault lacks; missing collects their names (the hosts that need
// one for their credentials are then not checked: they would fail the
// same way). A vault that cannot be opened is one problem.
func (p *preflight) checkSecrets(missing map[string]bool) (checkLine, []error) {
	names := p.rb.SecretNames()
	if len(names) == 0 {
		return checkLine{}, nil
	}
	var errs []error
	for _, name := range names {
		_, err := p.secrets.Secret(name)
		var me *secrets.MissingError
		switch {
		case err == nil:
		case errors.As(err, &me):
			missing[name] = true
			errs = append(errs, runbook.WithHint(err, fmt.Sprintf("`runbook vault set %s` adds it", name)))
		default:
			// The vault did not open: every secret is missing the same way.
			for _, n := range names {
				missing[n] = true
			}
			return checkLine{what: "secrets", text: "the vault did not open"}, []error{err}
		}
	}
	if len(errs) > 0 {
		return checkLine{what: "secrets", text: fmt.Sprintf("%d of %d missing from the vault", len(errs), len(names))}, errs
	}
	return checkLine{ok: true, what: "secrets", text: fmt.Sprintf("%d resolved from the vault", len(names))}, nil
}

// checkArtifact checks that the artifact an upload step stages exists, or
// that a step before the first upload builds it (a run on a local
// environment). It returns the artifact's size when it exists: the room
// each host needs.
func (p *preflight) checkArtifact(todo []*runbook.Step) (checkLine, int64, []error) {
	first := -1
	for i, s := range todo {
		if s.Kind == runbook.KindUpload && p.inScope(s.On, todo) {
			first = i
			break
		}
	}
	if first < 0 {
		return checkLine{}, 0, nil
	}
	art := p.rb.Artifact
	var builder string
	for _, s := range todo[:first] {
		if env := p.rb.Envs[s.On]; s.Kind == runbook.KindRun && env != nil && env.Local {
			builder = s.Name
		}
	}
	fi, err := os.Stat(art.Abs)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return checkLine{what: "artifact", text: art.Path}, 0, []error{runbook.WithHint(
			fmt.Errorf("artifact %s is not a regular file", art.Path), "point artifact.path at the file the build makes")}
	case err == nil && builder != "":
		return checkLine{ok: true, what: "artifact", text: fmt.Sprintf("%s (%s now), built again by %s", art.Path, runbook.Bytes(fi.Size()), builder)}, fi.Size(), nil
	case err == nil:
		return checkLine{ok: true, what: "artifact", text: fmt.Sprintf("%s, %s", art.Path, runbook.Bytes(fi.Size()))}, fi.Size(), nil
	case builder != "":
		return checkLine{ok: true, what: "artifact", text: fmt.Sprintf("%s, built by %s before %s", art.Path, builder, todo[first].Name)}, 0, nil
	}
	hint := "build it first"
	if p.from != "" {
		hint = "build it first, or start from the step that builds it"
	}
	return checkLine{what: "artifact", text: art.Path + " missing"}, 0, []error{runbook.WithHint(
		fmt.Errorf("artifact %s is missing, and no step before %s builds it", art.Path, todo[first].Name), hint)}
}

// hostResult is the report of one host.
type hostResult struct {
	line     checkLine
	problems []error
}

// preflightParallel bounds the hosts checked at once: connecting is
// mostly waiting, and a release's parallel limits are its steps', not
// this look's. Each host sees one connection whatever the bound (sshd's
// MaxStartups is per host). 20 rather than 8: `runbook check` of 100
// hosts on one 2-core machine took 0.88× the time (7.6 s against 8.4,
// BENCHMARKS.md, "One hundred hosts"), and on a real network, where a
// handshake waits on round trips, more hosts at once gain more.
const preflightParallel = 20

// checkHosts checks every host of the environments in scope, several at
// a time, through the executor's connections, and reports them in the
// runbook's order.
func (p *preflight) checkHosts(ctx context.Context, todo []*runbook.Step, size int64, missing map[string]bool) []hostResult {
	type job struct {
		h     *runbook.Host
		needs steps.HostNeeds
	}
	var jobs []job
	for _, name := range p.rb.EnvOrder {
		env := p.rb.Envs[name]
		if env == nil || !p.inScope(name, todo) {
			continue
		}
		stage := false
		for _, s := range todo {
			stage = stage || (s.Kind == runbook.KindUpload && s.On == name)
		}
		for _, h := range env.Hosts {
			jobs = append(jobs, job{h: h, needs: steps.HostNeeds{Stage: stage, Bytes: size, Version: p.version}})
		}
	}
	out := make([]hostResult, len(jobs))
	sem := make(chan struct{}, preflightParallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		if name := secretOfAuth(p.rb, j.h, missing); name != "" {
			out[i] = hostResult{line: checkLine{what: j.h.Name, text: j.h.Env.Name + ": not checked: its credentials need secret " + name}}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = hostReport(j.h, j.needs, p.exec.CheckHost(ctx, j.h, j.needs))
		}()
	}
	wg.Wait()
	return out
}

// secretOfAuth names a secret the credentials of h (or of its jump host)
// need that is in missing, or "".
func secretOfAuth(rb *runbook.Runbook, h *runbook.Host, missing map[string]bool) string {
	for hop := 0; h != nil && hop < 8; hop++ {
		if a := h.Auth; a != nil && !h.Local {
			for _, v := range []string{a.Key, a.KeyPassphrase, a.Password} {
				if name, ok := runbook.ParseSecretRef(v); ok && missing[name] {
					return name
				}
			}
		}
		if h.Env == nil || h.Env.Via == "" {
			break
		}
		h = rb.HostByName(h.Env.Via)
	}
	return ""
}

// hostReport turns what CheckHost found into the report of one host.
func hostReport(h *runbook.Host, n steps.HostNeeds, c steps.HostCheck) hostResult {
	where := h.Env.Name + ": "
	switch {
	case h.Local:
		where += "this machine"
	case h.User != "":
		where += h.User + "@" + h.Address
	default:
		where += h.Address
	}
	if len(c.Problems) > 0 {
		return hostResult{line: checkLine{what: h.Name, text: where + ": " + problemText(c.Problems[0])}, problems: c.Problems}
	}
	text := where
	if !h.Local {
		text += ", key known, logged in"
	}
	switch {
	case c.Staged:
		text += fmt.Sprintf("; %s staged already", n.Version)
	case c.Free < 0:
	case c.Dir == path.Join(h.DeployDir, "releases") || c.Dir == h.DeployDir:
		text += fmt.Sprintf("; %s writable, %s free", c.Dir, runbook.Bytes(c.Free))
	default:
		text += fmt.Sprintf("; deploy_dir to be made in %s (writable), %s free", c.Dir, runbook.Bytes(c.Free))
	}
	return hostResult{line: checkLine{ok: true, what: h.Name, text: text}}
}
