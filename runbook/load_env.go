package runbook

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

var (
	envKeys  = []string{"local", "workdir", "deploy_dir", "keep", "user", "auth", "hosts", "via", "parallel", "serial", "max_fail", "operations"}
	hostKeys = []string{"name", "address", "user", "auth", "deploy_dir", "workdir", "local"}
)

// implicitHost names the one host a local environment without hosts gets.
// Several local environments may each have one: it is the exception to
// host names being unique across environments.
const implicitHost = "local"

// Environment defaults (SPEC §3).
const (
	defaultKeep     = 5
	defaultParallel = 1
)

func (l *loader) decodeEnvironments(n *yaml.Node) {
	rb := l.rb
	rb.Envs = map[string]*Environment{}
	for _, f := range l.mapping(n, "environments").list {
		name := l.name(f.key, "environment")
		if name == "" {
			continue
		}
		rb.Envs[name] = l.decodeEnv(name, f.key, f.val)
		rb.EnvOrder = append(rb.EnvOrder, name)
	}
	l.checkHostNames()
	for _, name := range rb.EnvOrder {
		l.checkVia(rb.Envs[name])
	}
	l.checkViaLoops()
}

func (l *loader) decodeEnv(name string, key, n *yaml.Node) *Environment {
	what := fmt.Sprintf("environment %q", name)
	fs := l.mapping(n, what)
	l.only(fs, what, envKeys...)
	env := &Environment{
		Name:       name,
		Local:      l.boolean(fs.get("local"), "local"),
		Workdir:    l.nonEmptyIfSet(fs.get("workdir"), "workdir"),
		DeployDir:  l.nonEmptyIfSet(fs.get("deploy_dir"), "deploy_dir"),
		User:       l.nonEmptyIfSet(fs.get("user"), "user"),
		Via:        l.nonEmptyIfSet(fs.get("via"), "via"),
		Keep:       defaultKeep,
		Parallel:   defaultParallel,
		Operations: map[string]string{},
		Pos:        pos(key),
	}
	if v, ok := l.integer(fs.get("keep"), "keep", 1); ok {
		env.Keep = v
	}
	if v, ok := l.integer(fs.get("parallel"), "parallel", 1); ok {
		env.Parallel = v
	}
	if v, ok := l.share(fs.get("serial"), "serial", 1); ok {
		env.Serial = v
	}
	if v, ok := l.share(fs.get("max_fail"), "max_fail", 0); ok {
		env.MaxFail = v
	}
	if a := fs.get("auth"); a != nil {
		env.Auth = l.decodeAuth(a)
	}
	if env.Via != "" {
		l.viaNodes[env] = fs.get("via")
	}
	for _, op := range l.mapping(fs.get("operations"), "operations of "+what).list {
		opName := l.name(op.key, "operation")
		if opName == "" {
			continue
		}
		env.Operations[opName] = l.shellCommand(op.val, "operation "+opName)
		env.OpOrder = append(env.OpOrder, opName)
	}
	for _, item := range l.list(fs.get("hosts"), "hosts") {
		env.Hosts = append(env.Hosts, l.decodeHost(env, item))
	}
	if len(env.Hosts) == 0 {
		if env.Local {
			h := &Host{Name: implicitHost, Local: true, Env: env, Pos: env.Pos}
			l.effective(h, nil)
			env.Hosts = []*Host{h}
			l.implicit[h] = true
		} else {
			l.errorf(key, "environment %q has no hosts: add hosts: [{name: NAME, address: HOST}], or local: true to run on this machine", name)
		}
	}
	return env
}

// nonEmptyIfSet reads an optional string that, once written, must say
// something.
func (l *loader) nonEmptyIfSet(n *yaml.Node, key string) string {
	if n == nil {
		return ""
	}
	return l.nonEmpty(n, key)
}

func (l *loader) decodeHost(env *Environment, n *yaml.Node) *Host {
	fs := l.mapping(n, "a host")
	what := fmt.Sprintf("a host of environment %q", env.Name)
	h := &Host{Env: env, Pos: pos(n)}
	if nn := fs.get("name"); nn != nil {
		h.Name = l.name(nn, "host")
		what = fmt.Sprintf("host %q", h.Name)
	} else if fs.node != nil && fs.node.Kind == yaml.MappingNode {
		l.errorf(n, "%s has no name: add name: (it names the host in prompts, logs and --host)", what)
	}
	l.only(fs, what, hostKeys...)
	h.Address = l.nonEmptyIfSet(fs.get("address"), "address")
	h.Local = env.Local
	if v := fs.get("local"); v != nil {
		h.Local = l.boolean(v, "local")
	}
	l.effective(h, &fs)
	switch {
	case h.Local && h.Address != "":
		l.errorf(fs.keyNode("address"), "%s is local and runs on this machine, so it takes no address: remove address or set local: false", what)
	case !h.Local && fs.get("address") == nil && fs.node != nil && fs.node.Kind == yaml.MappingNode:
		l.errorf(n, "%s has no address: add address: HOST[:PORT], or local: true to run on this machine", what)
	case !h.Local && h.Address != "":
		if msg := checkHostPort(h.Address, false); msg != "" {
			l.errorf(fs.get("address"), "address %q of %s %s", h.Address, what, msg)
		}
	}
	return h
}

// effective fills the host's settings: its own when written (fs may be
// nil for an implicit host), else its environment's. An auth block
// replaces the environment's as a whole; a remote host with none at all
// uses the SSH agent, as ssh would.
func (l *loader) effective(h *Host, fs *fields) {
	env := h.Env
	h.User, h.Auth, h.DeployDir, h.Workdir = env.User, env.Auth, env.DeployDir, env.Workdir
	if fs != nil {
		if v := fs.get("user"); v != nil {
			h.User = l.nonEmpty(v, "user")
		}
		if v := fs.get("auth"); v != nil {
			h.Auth = l.decodeAuth(v)
		}
		if v := fs.get("deploy_dir"); v != nil {
			h.DeployDir = l.nonEmpty(v, "deploy_dir")
		}
		if v := fs.get("workdir"); v != nil {
			h.Workdir = l.nonEmpty(v, "workdir")
		}
	}
	if h.Local {
		var at *yaml.Node
		if fs != nil {
			at = fs.node
		}
		h.Workdir = l.localPath(at, h.Workdir)
		h.DeployDir = l.localPath(at, h.DeployDir)
		if h.Workdir == "" {
			// Local commands run beside the runbook file unless told
			// otherwise, not wherever the operator happened to cd.
			h.Workdir = l.rb.Dir
		}
		return
	}
	if h.Auth == nil {
		h.Auth = &Auth{Agent: true}
	}
}
