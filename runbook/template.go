package runbook

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
)

// TemplateData is what command templates see (SPEC §3).
type TemplateData struct {
	Version  string
	Release  TemplateRelease
	Host     TemplateHost
	Env      TemplateEnv
	Artifact TemplateArtifact
}

// TemplateRelease describes the release being run.
type TemplateRelease struct {
	ID        int64
	StartedAt string // RFC 3339, UTC
	Dir       string // this host's deploy_dir/releases/<version>
	Previous  string // the version live on this environment before the release
}

// TemplateHost is the host a command runs on.
type TemplateHost struct{ Name, Address, DeployDir string }

// TemplateEnv is the environment of that host.
type TemplateEnv struct{ Name, DeployDir string }

// TemplateArtifact is the file the release ships.
type TemplateArtifact struct{ Name, SHA256 string }

// ErrNoVault is returned (wrapped) by Render when a template needs a
// secret and no secret function was given.
var ErrNoVault = errors.New(`no vault is open: create one with "runbook vault init" or point --vault at it`)

const secretPrefix = "secret:"

var secretNamePattern = regexp.MustCompile(`^[A-Za-z0-9_./-]+$`)

// templateFuncs is the function map of command templates. The secret
// function is looked up at render time so templates can be parsed, and
// checked, without a vault.
func templateFuncs(secret func(name string) (string, error)) template.FuncMap {
	return template.FuncMap{
		"secret": func(name string) (string, error) {
			if secret == nil {
				return "", fmt.Errorf("secret %q is needed, but %w", name, ErrNoVault)
			}
			return secret(name)
		},
		"q": ShellQuote,
	}
}

// ShellQuote is the template function q: v as one word of a POSIX shell
// command, whatever it holds. It is put in single quotes, inside which a
// shell interprets nothing — not $, a backquote, a backslash, a double
// quote, a space, a newline nor a glob — and each single quote of v is
// written as these four characters (close the quotes, an escaped quote,
// open them again):
//
//	'\''
//
// A number or other value is formatted first. Only NUL is refused: shells
// drop it silently, so the command would not get v.
func ShellQuote(v any) (string, error) {
	s := fmt.Sprint(v)
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("q: the value holds a NUL byte, which no shell command can carry")
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'", nil
}

// Render executes a command template. A field the data lacks is an error,
// never an empty string in a command. secret resolves {{ secret "NAME" }};
// when it is nil such a template fails with ErrNoVault. Errors from secret
// stay reachable through errors.Is and errors.As.
func Render(text string, data TemplateData, secret func(name string) (string, error)) (string, error) {
	// Every version reaching a command was checked where it entered (the
	// command line, the database, a host's link). Checked once more here,
	// the last place before a shell sees it, so that a path nobody thought
	// of cannot splice one in unchecked.
	if data.Version != "" {
		if err := CheckVersion(data.Version); err != nil {
			return "", fmt.Errorf("render template: %w", err)
		}
	}
	if data.Release.Previous != "" {
		if err := CheckVersion(data.Release.Previous); err != nil {
			return "", fmt.Errorf("render template: the previous release: %w", err)
		}
	}
	t, err := template.New("command").Option("missingkey=error").Funcs(templateFuncs(secret)).Parse(text)
	if err != nil {
		return "", fmt.Errorf("parse template: %w", err)
	}
	var b cappedBuilder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render template: %w", err)
	}
	return b.String(), nil
}

// maxRendered bounds what one command template may render to. Commands
// reach hosts on stdin, so no ARG_MAX applies, but a template that nests
// template calls or ranges can ask for gigabytes, in memory, on the
// release night; 16 MiB is far beyond any real script.
const maxRendered = 16 << 20

var errTooLarge = fmt.Errorf("the command would be larger than %d MiB: look for a runaway range or template call", maxRendered>>20)

// cappedBuilder is a strings.Builder that refuses to grow past
// maxRendered; text/template stops at the first failed write.
type cappedBuilder struct{ strings.Builder }

func (b *cappedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errTooLarge
	}
	return b.Builder.Write(p)
}

// ParseSecretRef reads an auth value of the form secret:NAME. ok is false
// when s is not such a reference or NAME is malformed.
func ParseSecretRef(s string) (name string, ok bool) {
	name, found := strings.CutPrefix(s, secretPrefix)
	if !found || !secretNamePattern.MatchString(name) {
		return "", false
	}
	return name, true
}

// SecretRefs lists, in order of first use, the names a template passes to
// secret. Templates that do not parse have none; Load rejects them anyway.
func SecretRefs(text string) []string {
	t, err := template.New("command").Funcs(templateFuncs(nil)).Parse(text)
	if err != nil {
		return nil
	}
	var names []string
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		walkTemplate(tt.Tree.Root, func(n parse.Node) {
			if name, ok := secretCall(n); ok && !slices.Contains(names, name) {
				names = append(names, name)
			}
		})
	}
	return names
}

// secretCall reports whether n is secret "NAME" and returns NAME.
func secretCall(n parse.Node) (string, bool) {
	cmd, ok := n.(*parse.CommandNode)
	if !ok || len(cmd.Args) != 2 {
		return "", false
	}
	if id, ok := cmd.Args[0].(*parse.IdentifierNode); !ok || id.Ident != "secret" {
		return "", false
	}
	s, ok := cmd.Args[1].(*parse.StringNode)
	if !ok {
		return "", false
	}
	return s.Text, true
}

// walkTemplate calls visit for n and every node below it.
func walkTemplate(n parse.Node, visit func(parse.Node)) {
	visit(n)
	switch n := n.(type) {
	case *parse.ListNode:
		for _, c := range n.Nodes {
			walkTemplate(c, visit)
		}
	case *parse.ActionNode:
		walkTemplate(n.Pipe, visit)
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			walkTemplate(c, visit)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkTemplate(a, visit)
		}
	case *parse.ChainNode:
		walkTemplate(n.Node, visit)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.TemplateNode:
		if n.Pipe != nil {
			walkTemplate(n.Pipe, visit)
		}
	}
}

func walkBranch(b *parse.BranchNode, visit func(parse.Node)) {
	walkTemplate(b.Pipe, visit)
	walkTemplate(b.List, visit)
	if b.ElseList != nil {
		walkTemplate(b.ElseList, visit)
	}
}

// SecretNames lists every secret the runbook refers to, in templates and
// in auth fields, sorted and without repeats: what the vault must hold
// before a release may start.
func (rb *Runbook) SecretNames() []string {
	var names []string
	add := func(text string) { names = append(names, SecretRefs(text)...) }
	addAuth := func(a *Auth) {
		if a == nil {
			return
		}
		for _, v := range []string{a.Key, a.KeyPassphrase, a.Password} {
			if name, ok := ParseSecretRef(v); ok {
				names = append(names, name)
			}
		}
	}
	for _, en := range rb.EnvOrder {
		env := rb.Envs[en]
		addAuth(env.Auth)
		for _, op := range env.OpOrder {
			add(env.Operations[op])
		}
		for _, h := range env.Hosts {
			addAuth(h.Auth)
		}
	}
	for _, s := range rb.Steps {
		for _, text := range []string{s.Run, s.Verify, s.Check, s.Undo} {
			add(text)
		}
		for _, k := range s.EnvOrder {
			add(s.Env[k])
		}
	}
	for _, c := range rb.Handbook.Checks {
		add(c.Run)
	}
	for _, h := range rb.Hooks {
		add(h.Run)
	}
	for _, q := range rb.Handbook.Queries {
		add(q.SQL)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
